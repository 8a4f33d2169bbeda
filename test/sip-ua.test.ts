import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../src/log.js';
import type { SipUserAgent } from '../src/telephony/sip/index.js';
import { getHeader, getHeaders } from '../src/telephony/sip/message.js';
import { ANSWER, NUMBER, OFFER, PASSWORD, authParams, crlf, md5, phoneRequest, uaHarness, type FakePhone } from './helpers/fake-phone.js';

/** An onProvisional handler and a promise settled by the first 180 it sees. */
function ringingSignal() {
  let rang!: () => void;
  const ringing = new Promise<void>((r) => (rang = r));
  return { ringing, onProvisional: (p: { status: number }) => void (p.status === 180 && rang()) };
}

/** Placing a call against a fake phone: provisional and final responses, CANCEL, digest, codecs, timers. */
describe('SIP user agent: placing a call', () => {
  let phone: FakePhone;
  let ua: SipUserAgent;
  let logLines: string[];
  let log: Logger;
  const h = uaHarness();
  const { dial, answer, contact } = h;
  beforeEach(() => {
    ({ phone, ua, logLines, log } = h.current());
  });

  it('180 then 200: answered, ACK sent, and sent again for a retransmitted 200', async () => {
    const provisional: number[] = [];
    const result = dial({ onProvisional: (p) => provisional.push(p.status) });
    const invite = await phone.request('INVITE');
    expect(invite.msg.uri).toBe(`sip:${NUMBER}@127.0.0.1:${phone.port};user=phone`);
    expect(invite.msg.core.via.params.has('rport')).toBe(true);
    expect(invite.msg.core.via.branch).toMatch(/^z9hG4bK/);
    expect(invite.msg.core.from).toMatchObject({ displayName: 'Callpay', uri: 'sip:callpay@example.com' });
    expect(invite.msg.core.from.tag).toBeTruthy();
    expect(invite.msg.core.to.tag).toBeNull();
    expect(invite.msg.core.cseq).toEqual({ seq: 1, method: 'INVITE' });
    expect(getHeader(invite.msg, 'contact')).toBe(`<sip:callpay@127.0.0.1:${ua.local.port}>`);
    expect(invite.msg.body).toBe(OFFER);

    phone.respond(invite, 100, 'Trying');
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1' });
    const ok = phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact(), 'Content-Type: application/sdp'] });
    const r = await result;
    expect(r).toMatchObject({ kind: 'answered', status: 200, remoteSdp: ANSWER, media: { codec: 'PCMA', payloadType: 8, telephoneEventPt: 96, remoteHost: '127.0.0.1', remotePort: 41000 } });
    expect(provisional).toEqual([180]);
    if (r.kind !== 'answered') return;
    expect(r.callId).toBe(invite.msg.core.callId);
    expect(r.dialog.callId).toBe(invite.msg.core.callId);

    const ack = await phone.request('ACK');
    expect(ack.msg.uri).toBe(`sip:phone@127.0.0.1:${phone.port}`); // the remote target, from Contact
    expect(ack.msg.core.cseq).toEqual({ seq: 1, method: 'ACK' });
    expect(ack.msg.core.via.branch).not.toBe(invite.msg.core.via.branch); // a 2xx ACK is its own transaction
    expect(ack.msg.core.to.tag).toBe('ph1');
    expect(ack.msg.core.from.tag).toBe(invite.msg.core.from.tag);

    phone.send(ok, ack.source); // our ACK was "lost": the phone retransmits its 200
    const again = await phone.request('ACK');
    expect(again.raw).toBe(ack.raw);
    expect(phone.requests('INVITE')).toHaveLength(1);
  });

  it('183 with SDP is information only: the call is answered by the 200', async () => {
    const early: Array<string | null> = [];
    let told!: () => void;
    const provisional = new Promise<void>((r) => (told = r));
    const result = dial({ onProvisional: (p) => (early.push(p.sdp), told()) });
    const invite = await phone.request('INVITE');
    phone.respond(invite, 183, 'Session Progress', { toTag: 'ph1', body: ANSWER, headers: ['Content-Type: application/sdp'] });
    await provisional;
    expect(early).toEqual([ANSWER]);
    phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact(), 'Content-Type: application/sdp'] });
    expect((await result).kind).toBe('answered');
    expect(early).toEqual([ANSWER]);
  });

  it.each([
    [486, 'Busy Here', 'busy'],
    [600, 'Busy Everywhere', 'busy'],
    [603, 'Decline', 'rejected'],
    [480, 'Temporarily Unavailable', 'no_answer'],
    [404, 'Not Found', 'failed'],
  ])('%i → %s, with the ACK in the INVITE transaction', async (status, reason, kind) => {
    const result = dial();
    const invite = await phone.request('INVITE');
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1' });
    const final = phone.respond(invite, status, reason, { toTag: 'ph1' });
    expect(await result).toMatchObject({ kind, sipStatus: status });
    const ack = await phone.request('ACK');
    expect(ack.msg.core.via.branch).toBe(invite.msg.core.via.branch);
    expect(ack.msg.uri).toBe(invite.msg.uri);
    expect(ack.msg.core.cseq).toEqual({ seq: 1, method: 'ACK' });
    expect(ack.msg.core.to.tag).toBe('ph1');
    phone.send(final, ack.source); // a retransmitted final response is ACKed again
    await phone.request('ACK');
  });

  it('ring timeout after 180: CANCEL, then 487 → no_answer', async () => {
    const result = dial({ ringTimeoutMs: 300 });
    const invite = await phone.request('INVITE');
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1' });
    const cancel = await phone.request('CANCEL');
    expect(cancel.at - invite.at).toBeGreaterThanOrEqual(250);
    expect(cancel.msg.uri).toBe(invite.msg.uri);
    expect(cancel.msg.core.via.branch).toBe(invite.msg.core.via.branch);
    expect(cancel.msg.core.cseq).toEqual({ seq: 1, method: 'CANCEL' });
    expect(getHeader(cancel.msg, 'to')).toBe(getHeader(invite.msg, 'to'));
    expect(getHeader(cancel.msg, 'from')).toBe(getHeader(invite.msg, 'from'));
    phone.respond(cancel, 200, 'OK', { toTag: 'ph1' });
    phone.respond(invite, 487, 'Request Terminated', { toTag: 'ph1' });
    expect(await result).toMatchObject({ kind: 'no_answer', sipStatus: 487, reason: 'ring timeout' });
    const ack = await phone.request('ACK');
    expect(ack.msg.core.via.branch).toBe(invite.msg.core.via.branch);
  });

  it('abort while ringing: CANCEL, 487 → failed (aborted)', async () => {
    const abort = new AbortController();
    const { onProvisional, ringing } = ringingSignal();
    const result = dial({ signal: abort.signal, onProvisional });
    const invite = await phone.request('INVITE');
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1' });
    await ringing; // the UA has seen the 180: a CANCEL is allowed now
    abort.abort();
    const cancel = await phone.request('CANCEL');
    phone.respond(cancel, 200, 'OK', { toTag: 'ph1' });
    phone.respond(invite, 487, 'Request Terminated', { toTag: 'ph1' });
    expect(await result).toMatchObject({ kind: 'failed', sipStatus: 487, reason: 'aborted' });
  });

  it('a 200 OK that crosses the CANCEL is ACKed, then hung up with BYE', async () => {
    const result = dial({ ringTimeoutMs: 200 });
    const invite = await phone.request('INVITE');
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1' });
    const cancel = await phone.request('CANCEL');
    phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact(), 'Content-Type: application/sdp'] });
    phone.respond(cancel, 200, 'OK', { toTag: 'ph1' });
    expect(await result).toMatchObject({ kind: 'no_answer', sipStatus: 200, reason: 'ring timeout' });
    const ack = await phone.request('ACK');
    const bye = await phone.request('BYE');
    expect(bye.at).toBeGreaterThanOrEqual(ack.at);
    expect(bye.msg.core.cseq).toEqual({ seq: 2, method: 'BYE' });
    expect(bye.msg.core.to.tag).toBe('ph1');
    phone.respond(bye, 200, 'OK');
  });

  it('401: retried once with a correct Authorization, same Call-ID and From tag, CSeq + 1', async () => {
    const result = dial({ credentials: { username: 'callpay', password: PASSWORD } });
    const first = await phone.request('INVITE');
    phone.respond(first, 401, 'Unauthorized', { toTag: 'auth1', headers: ['WWW-Authenticate: Digest realm="trunk", nonce="n0nce", qop="auth", algorithm=MD5, opaque="op4que"'] });
    const ack401 = await phone.request('ACK');
    expect(ack401.msg.core.via.branch).toBe(first.msg.core.via.branch);

    const second = await phone.request('INVITE');
    expect(second.msg.core.callId).toBe(first.msg.core.callId);
    expect(second.msg.core.from.tag).toBe(first.msg.core.from.tag);
    expect(second.msg.core.to.tag).toBeNull();
    expect(second.msg.core.cseq).toEqual({ seq: 2, method: 'INVITE' });
    expect(second.msg.core.via.branch).not.toBe(first.msg.core.via.branch);
    const auth = getHeader(second.msg, 'authorization') ?? '';
    const p = authParams(auth);
    expect(p).toMatchObject({ username: 'callpay', realm: 'trunk', nonce: 'n0nce', uri: second.msg.uri, qop: 'auth', nc: '00000001', opaque: 'op4que' });
    const expected = md5(`${md5(`callpay:trunk:${PASSWORD}`)}:n0nce:00000001:${p.cnonce}:auth:${md5(`INVITE:${second.msg.uri}`)}`);
    expect(p.response).toBe(expected);

    phone.respond(second, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact()] });
    expect((await result).kind).toBe('answered');
    const ack = await phone.request('ACK');
    expect(ack.msg.core.cseq).toEqual({ seq: 2, method: 'ACK' });
    expect(getHeader(ack.msg, 'authorization')).toBe(auth); // §13.2.2.4: the ACK carries the INVITE's credentials
  });

  it('407: Proxy-Authorization; a second challenge is not retried again', async () => {
    const result = dial({ credentials: { username: 'callpay', password: PASSWORD } });
    const challenge = ['Proxy-Authenticate: Digest realm="proxy", nonce="p1", qop="auth"'];
    const first = await phone.request('INVITE');
    phone.respond(first, 407, 'Proxy Authentication Required', { toTag: 'a', headers: challenge });
    const second = await phone.request('INVITE');
    expect(getHeader(second.msg, 'proxy-authorization')).toMatch(/^Digest .*realm="proxy"/);
    expect(getHeader(second.msg, 'authorization')).toBeUndefined();
    phone.respond(second, 407, 'Proxy Authentication Required', { toTag: 'b', headers: challenge });
    expect(await result).toMatchObject({ kind: 'failed', sipStatus: 407, reason: 'authentication rejected' });
    await phone.roundTrip(ua.local); // a third INVITE, sent on the second 407, would be here by now
    expect(phone.requests('INVITE')).toHaveLength(2);
  });

  it('401 without credentials → failed, status kept', async () => {
    const result = dial();
    const invite = await phone.request('INVITE');
    phone.respond(invite, 401, 'Unauthorized', { toTag: 'a', headers: ['WWW-Authenticate: Digest realm="t", nonce="n"'] });
    expect(await result).toMatchObject({ kind: 'failed', sipStatus: 401 });
  });

  it('an answer without PCMU/PCMA: ACK, BYE, failed with a clear reason', async () => {
    const result = dial();
    const invite = await phone.request('INVITE');
    const g729 = ANSWER.replace('RTP/AVP 8 96', 'RTP/AVP 18 96').replace('a=rtpmap:8 PCMA/8000', 'a=rtpmap:18 G729/8000');
    phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: g729, headers: [contact()] });
    expect(await result).toMatchObject({ kind: 'failed', sipStatus: 200, reason: 'SDP answer without a usable codec' });
    await phone.request('ACK');
    const bye = await phone.request('BYE');
    phone.respond(bye, 200, 'OK');
  });

  it('a silent peer: INVITE retransmitted on timer A, doubling; timer B → failed', async () => {
    const t1 = 20;
    ua = await h.restartUa(t1);
    const started = Date.now();
    const r = await dial();
    const elapsed = Date.now() - started;
    expect(r).toMatchObject({ kind: 'failed', sipStatus: null });
    expect(elapsed).toBeGreaterThanOrEqual(64 * t1 - 5);
    const invites = phone.requests('INVITE');
    expect(invites.length).toBeGreaterThanOrEqual(6);
    expect(new Set(invites.map((i) => i.raw)).size).toBe(1); // the same request, same branch
    const gaps = invites.slice(1).map((inv, i) => inv.at - (invites[i]?.at ?? 0));
    expect(gaps[0]).toBeGreaterThanOrEqual(t1 - 5);
    for (let i = 1; i < Math.min(gaps.length, 5); i++) expect(gaps[i]).toBeGreaterThan((gaps[i - 1] ?? 0) * 1.4);
  });

  it('a second 2xx from another fork is ACKed and hung up; the first call stays', async () => {
    const result = dial();
    const invite = await phone.request('INVITE');
    phone.respond(invite, 200, 'OK', { toTag: 'forkA', body: ANSWER, headers: [contact()] });
    const r = await result;
    expect(r.kind).toBe('answered');
    await phone.request('ACK');
    phone.respond(invite, 200, 'OK', { toTag: 'forkB', body: ANSWER, headers: [contact()] });
    const ackB = await phone.request('ACK');
    expect(ackB.msg.core.to.tag).toBe('forkB');
    const byeB = await phone.request('BYE');
    expect(byeB.msg.core.to.tag).toBe('forkB');
    let endedBy: string | null = null;
    if (r.kind === 'answered') void r.dialog.ended.then((by) => (endedBy = by));
    phone.respond(byeB, 200, 'OK');
    await phone.roundTrip(ua.local); // the UA has handled the 200 to fork B's BYE
    expect(r.kind).toBe('answered');
    expect(endedBy).toBeNull();
    expect(phone.requests('BYE').map((b) => b.msg.core.to.tag)).toEqual(['forkB']);
  });

  it('close() while ringing: CANCEL sent, result reported at once', async () => {
    const { onProvisional, ringing } = ringingSignal();
    const result = dial({ onProvisional });
    const invite = await phone.request('INVITE');
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1' });
    await ringing; // the UA has seen the 180: closing must CANCEL
    await ua.close();
    expect(await result).toMatchObject({ kind: 'failed', reason: 'SIP user agent closed' });
    await phone.request('CANCEL');
  });
});
