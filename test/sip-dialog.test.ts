import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../src/log.js';
import type { SipUserAgent } from '../src/telephony/sip/index.js';
import { getHeader, getHeaders } from '../src/telephony/sip/message.js';
import { ANSWER, NUMBER, OFFER, PASSWORD, T1, T2, authParams, crlf, md5, phoneRequest, uaHarness, type FakePhone } from './helpers/fake-phone.js';

/** An answered call against a fake phone: route set, BYE both ways, in-dialog requests, re-INVITE, hostile input. */
describe('SIP user agent: in the call', () => {
  let phone: FakePhone;
  let ua: SipUserAgent;
  let logLines: string[];
  let log: Logger;
  const h = uaHarness();
  const { dial, answer, contact } = h;
  beforeEach(() => {
    ({ phone, ua, logLines, log } = h.current());
  });

  it('Record-Route becomes the route set, reversed, for ACK and BYE', async () => {
    const rr = [`<sip:rr1@127.0.0.1:${0};lr>`, `<sip:rr2@127.0.0.1:${0};lr>`].map((r) => r.replace(':0;', `:${phone.port};`));
    const { r, ack } = await answer({}, [`Record-Route: ${rr[0]}, ${rr[1]}`]);
    expect(getHeaders(ack.msg, 'route')).toEqual([rr[1], rr[0]]);
    expect(ack.msg.uri).toBe(`sip:phone@127.0.0.1:${phone.port}`);
    const bye = r.dialog.bye();
    const byeReq = await phone.request('BYE');
    expect(getHeaders(byeReq.msg, 'route')).toEqual([rr[1], rr[0]]);
    phone.respond(byeReq, 200, 'OK');
    await bye;
  });

  it('local hang-up: BYE with the next CSeq, idempotent, dialog ends "local"', async () => {
    const { r, ack } = await answer();
    const first = r.dialog.bye();
    const second = r.dialog.bye();
    expect(second).toBe(first);
    const bye = await phone.request('BYE');
    expect(bye.msg.core.cseq).toEqual({ seq: 2, method: 'BYE' });
    expect(bye.msg.uri).toBe(`sip:phone@127.0.0.1:${phone.port}`);
    expect(bye.msg.core.callId).toBe(ack.msg.core.callId);
    expect(bye.msg.core.to.tag).toBe('ph1');
    phone.respond(bye, 200, 'OK');
    await first;
    expect(await r.dialog.ended).toBe('local');
    expect(phone.requests('BYE')).toHaveLength(1);
  });

  it('BYE from the phone: 200 sent (again for a retransmission), dialog ends "remote"', async () => {
    const { r, invite } = await answer();
    let told = 0;
    r.dialog.onRemoteBye(() => told++);
    const bye = phoneRequest(phone, invite, 'ph1', 'BYE', 1);
    phone.send(bye, ua.local);
    const ok = await phone.response(200, 'BYE');
    expect(ok.msg.core.to.tag).toBe(invite.msg.core.from.tag);
    expect(await r.dialog.ended).toBe('remote');
    expect(told).toBe(1);
    phone.send(bye, ua.local);
    const again = await phone.response(200, 'BYE');
    expect(again.raw).toBe(ok.raw);
    await r.dialog.bye(); // nothing left to end
    expect(phone.requests('BYE')).toHaveLength(0);
  });

  it('in-dialog OPTIONS and INFO get 200; DTMF from dtmf-relay and dtmf bodies is delivered', async () => {
    const { r, invite } = await answer();
    phone.send(phoneRequest(phone, invite, 'ph1', 'OPTIONS', 1), ua.local);
    const options = await phone.response(200, 'OPTIONS');
    expect(getHeaders(options.msg, 'allow')).toContain('INFO');

    const info = (cseq: number, type: string, body: string) => phoneRequest(phone, invite, 'ph1', 'INFO', cseq, { body, headers: [`Content-Type: ${type}`] });
    phone.send(info(2, 'application/dtmf-relay', 'Signal=5\r\nDuration=160\r\n'), ua.local);
    await phone.response(200, 'INFO');
    const digits: Array<[string, number | null]> = [];
    r.dialog.onDtmfInfo((d, ms) => digits.push([d, ms])); // registered late: the first digit was kept
    phone.send(info(3, 'application/dtmf', '#'), ua.local);
    await phone.response(200, 'INFO');
    phone.send(info(4, 'application/dtmf-relay', 'Signal=10\r\nDuration=100'), ua.local);
    await phone.response(200, 'INFO');
    phone.send(info(5, 'application/dtmf-relay', 'Signal=X\r\n'), ua.local);
    await phone.response(200, 'INFO');
    phone.send(info(6, 'application/media_control+xml', '<xml/>'), ua.local);
    await phone.response(200, 'INFO');
    expect(digits).toEqual([['5', 160], ['#', null], ['*', 100]]);
  });

  it('re-INVITE: 200 with an RFC 3264 answer, retransmitted until the ACK; target refreshed', async () => {
    const { r, invite } = await answer();
    const updates: unknown[] = [];
    r.dialog.onSessionUpdate((m) => updates.push(m));
    const hold = ANSWER.replace('c=IN IP4 127.0.0.1', 'c=IN IP4 0.0.0.0');
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    const reinvite = phoneRequest(phone, invite, 'ph1', 'INVITE', 2, { body: hold, branch, headers: ['Content-Type: application/sdp', `Contact: <sip:moved@127.0.0.1:${phone.port}>`] });
    phone.send(reinvite, ua.local);
    const ok = await phone.response(200, 'INVITE');
    // RFC 2543 hold (c=0.0.0.0): nothing may be sent to the phone, so we only receive; its codecs, not our offer's.
    expect(ok.msg.body).toContain('m=audio 40000 RTP/AVP 8 96\r\n');
    expect(ok.msg.body).toContain('a=recvonly');
    expect(ok.msg.body).toMatch(/^o=callpay 1 2 IN IP4 127\.0\.0\.1$/m);
    expect(getHeader(ok.msg, 'content-type')).toBe('application/sdp');
    expect(updates).toEqual([{ codec: 'PCMA', payloadType: 8, telephoneEventPt: 96, remoteHost: '127.0.0.1', remotePort: 41000, send: false }]);
    const retransmitted = await phone.response(200, 'INVITE'); // no ACK yet
    expect(retransmitted.raw).toBe(ok.raw);
    phone.send(phoneRequest(phone, invite, 'ph1', 'ACK', 2), ua.local);
    await phone.roundTrip(ua.local); // the ACK is handled, and every 200 sent before it is here
    const okCount = () => phone.all.filter((m) => m.msg.type === 'response' && m.msg.core.cseq.method === 'INVITE').length;
    const count = okCount();
    // Stopped retransmission is time behaviour: a running timer would resend within T2 (its longest interval).
    await new Promise((res) => setTimeout(res, T2 + T1));
    expect(okCount()).toBe(count);

    const done = r.dialog.bye();
    const bye = await phone.request('BYE');
    expect(bye.msg.uri).toBe(`sip:moved@127.0.0.1:${phone.port}`);
    phone.respond(bye, 200, 'OK');
    await done;
  });

  it('ignores responses for unknown transactions and garbage, then still places a call', async () => {
    phone.send(
      crlf(['SIP/2.0 200 OK', `Via: SIP/2.0/UDP 127.0.0.1:${ua.local.port};branch=z9hG4bKnotours`, 'From: <sip:a@b>;tag=1', 'To: <sip:c@d>;tag=2', 'Call-ID: stranger', 'CSeq: 1 INVITE', 'Content-Length: 0', '', '']),
      ua.local,
    );
    phone.send('\u0000\u0001garbage\r\n\r\n', ua.local);
    phone.send(randomBytes(900).toString('latin1'), ua.local);
    phone.send('INVITE sip:x SIP/2.0\r\nContent-Length: 99999\r\n\r\n', ua.local);
    const { r } = await answer();
    expect(r.kind).toBe('answered');
    expect(phone.requests('ACK')).toHaveLength(1); // nothing was ACKed for the stranger's 200
    expect(logLines.join('')).toContain('response for no known transaction dropped');
    expect(logLines.join('')).toContain('dropped malformed SIP datagram');
  });

  it('answers out-of-dialog OPTIONS, refuses unknown dialogs with 481 and incoming calls with 603', async () => {
    const fake = (method: string, toTag: string | null) =>
      crlf([
        `${method} sip:callpay@127.0.0.1 SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=z9hG4bK${randomBytes(6).toString('hex')}`,
        'From: <sip:probe@127.0.0.1>;tag=p',
        `To: <sip:callpay@127.0.0.1>${toTag ? `;tag=${toTag}` : ''}`,
        `Call-ID: ${randomBytes(6).toString('hex')}`,
        `CSeq: 1 ${method}`,
        'Content-Length: 0',
        '',
        '',
      ]);
    phone.send(fake('OPTIONS', null), ua.local);
    await phone.response(200, 'OPTIONS');
    phone.send(fake('BYE', 'nope'), ua.local);
    await phone.response(481, 'BYE');
    phone.send(fake('INVITE', null), ua.local);
    await phone.response(603, 'INVITE');
  });

  it('a BYE nobody answers: retransmitted on timer E up to T2, given up on timer F', async () => {
    const t1 = 20;
    ua = await h.restartUa(t1); // T2 = 8 * T1
    const { r } = await answer();
    const started = Date.now();
    await r.dialog.bye();
    expect(Date.now() - started).toBeGreaterThanOrEqual(64 * t1 - 5);
    const byes = phone.requests('BYE');
    expect(byes.length).toBeGreaterThanOrEqual(8);
    expect(new Set(byes.map((b) => b.raw)).size).toBe(1);
    const gaps = byes.slice(1).map((b, i) => b.at - (byes[i]?.at ?? 0));
    expect(Math.max(...gaps)).toBeLessThan(8 * t1 + 40);
    expect(await r.dialog.ended).toBe('local');
  });

});
