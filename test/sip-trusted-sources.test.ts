import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SipUserAgent } from '../src/telephony/sip/index.js';
import { ANSWER, T1, T2, crlf, phoneRequest, uaHarness, FakePhone } from './helpers/fake-phone.js';


const dtmf = (digit: string) => ({ body: `Signal=${digit}\r\nDuration=160\r\n`, headers: ['Content-Type: application/dtmf-relay'] });
const OTHER_SDP = ANSWER.replace('m=audio 41000', 'm=audio 47000');

/**
 * Issue 10, D2: requests inside a call are obeyed only from where the call's own requests go (the
 * route set's first hop or the remote target), the outbound proxy and `trustedSources`. A forger on
 * another port with the right Call-ID and tags gets 403 and changes nothing.
 */
describe('SIP user agent: in-dialog requests only from trusted sources', () => {
  let phone: FakePhone;
  let ua: SipUserAgent;
  let logLines: string[];
  let forger: FakePhone;
  const h = uaHarness();
  const { dial, answer, contact } = h;
  beforeEach(async () => {
    ({ phone, ua, logLines } = h.current());
    forger = await FakePhone.start();
  });
  afterEach(async () => {
    await forger.close();
  });

  it('a forged INFO, BYE, re-INVITE, OPTIONS, CANCEL or unknown method gets 403 and is not obeyed', async () => {
    const { r, invite } = await answer();
    const digits: string[] = [];
    const updates: unknown[] = [];
    let byeSeen = false;
    r.dialog.onDtmfInfo((d) => digits.push(d));
    r.dialog.onSessionUpdate((m) => updates.push(m));
    r.dialog.onRemoteBye(() => (byeSeen = true));

    const forged: Array<[string, { body?: string; headers?: string[] }]> = [
      ['INFO', dtmf('9')],
      ['INVITE', { body: OTHER_SDP, headers: ['Content-Type: application/sdp', `Contact: <sip:evil@127.0.0.1:${forger.port}>`] }],
      ['OPTIONS', {}],
      ['MESSAGE', { body: 'hi', headers: ['Content-Type: text/plain'] }],
      ['CANCEL', {}],
      ['BYE', {}],
    ];
    let cseq = 100; // far above the phone's own: a forged CSeq must not put the phone's next request "out of order"
    for (const [method, opts] of forged) {
      forger.send(phoneRequest(forger, invite, 'ph1', method, cseq++, opts), ua.local);
      const refused = await forger.response(403, method);
      expect(refused.msg.core.callId).toBe(invite.msg.core.callId);
    }
    forger.send(phoneRequest(forger, invite, 'ph1', 'ACK', 101), ua.local);
    await phone.roundTrip(ua.local);
    expect(digits).toEqual([]);
    expect(updates).toEqual([]);
    expect(byeSeen).toBe(false);
    expect(forger.all.filter((m) => m.msg.type === 'response' && m.msg.status !== 403)).toEqual([]);
    expect(forger.requests('INVITE').concat(forger.requests('BYE'))).toEqual([]); // we never sent it anything

    // The phone itself, from the address we send to, still counts, with its own (lower) CSeq.
    phone.send(phoneRequest(phone, invite, 'ph1', 'INFO', 2, dtmf('5')), ua.local);
    await phone.response(200, 'INFO');
    expect(digits).toEqual(['5']);
    // The forged re-INVITE's Contact did not become the remote target: our BYE goes to the phone.
    const bye = r.dialog.bye();
    const byeReq = await phone.request('BYE');
    expect(byeReq.msg.uri).toBe(`sip:phone@127.0.0.1:${phone.port}`);
    phone.respond(byeReq, 200, 'OK');
    await bye;
    const warnings = logLines.filter((l) => l.includes('untrusted source'));
    expect(warnings.length).toBeGreaterThanOrEqual(5);
    expect(warnings[0]).toContain(`"source":"127.0.0.1:${forger.port}"`);
    expect(warnings[0]).toContain('"level":40');
  });

  it('a forged ACK does not stop the 200 to the phone\'s re-INVITE from being retransmitted', async () => {
    const { invite } = await answer();
    phone.send(phoneRequest(phone, invite, 'ph1', 'INVITE', 2, { body: ANSWER, headers: ['Content-Type: application/sdp', contact()] }), ua.local);
    const ok = await phone.response(200, 'INVITE');
    forger.send(phoneRequest(forger, invite, 'ph1', 'ACK', 2), ua.local);
    await forger.roundTrip(ua.local); // the forged ACK has been handled
    const again = await phone.response(200, 'INVITE'); // still retransmitted: the forged ACK counted for nothing
    expect(again.raw).toBe(ok.raw);
    phone.send(phoneRequest(phone, invite, 'ph1', 'ACK', 2), ua.local);
    await phone.roundTrip(ua.local);
    const count = phone.all.filter((m) => m.msg.type === 'response' && m.msg.core.cseq.method === 'INVITE').length;
    await new Promise((res) => setTimeout(res, T2 + T1)); // a running timer would resend within T2
    expect(phone.all.filter((m) => m.msg.type === 'response' && m.msg.core.cseq.method === 'INVITE').length).toBe(count);
  });

  it('answers a refused request where it came from, never at the port its Via names', async () => {
    const { invite } = await answer();
    // No rport and a Via naming the phone's port: RFC 3261 would answer there; a refusal goes to the source.
    const text = phoneRequest(forger, invite, 'ph1', 'BYE', 7).replace(`Via: SIP/2.0/UDP 127.0.0.1:${forger.port}`, `Via: SIP/2.0/UDP 127.0.0.1:${phone.port}`);
    forger.send(text, ua.local);
    await forger.response(403, 'BYE');
    await phone.roundTrip(ua.local);
    expect(phone.all.filter((m) => m.msg.type === 'response' && m.msg.status === 403)).toEqual([]);
  });

  it('takes requests from the first hop of the route set, not from the phone behind it', async () => {
    const proxy = await FakePhone.start();
    try {
      const result = dial();
      const invite = await phone.request('INVITE');
      phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact(), `Record-Route: <sip:rr@127.0.0.1:${proxy.port};lr>`] });
      const r = await result;
      if (r.kind !== 'answered') throw new Error(r.kind);
      await proxy.request('ACK'); // in-dialog requests go to the record-routing proxy
      const digits: string[] = [];
      r.dialog.onDtmfInfo((d) => digits.push(d));
      proxy.send(phoneRequest(proxy, invite, 'ph1', 'INFO', 2, dtmf('1')), ua.local);
      await proxy.response(200, 'INFO');
      phone.send(phoneRequest(phone, invite, 'ph1', 'INFO', 3, dtmf('2')), ua.local);
      await phone.response(403, 'INFO');
      expect(digits).toEqual(['1']);
    } finally {
      proxy.answerByes = true;
      await h.restartUa(T1); // the dialog's BYE goes to the proxy, which answers it
      await proxy.close();
    }
  });

  it('takes requests from the outbound proxy and from telephony.sip.trustedSources', async () => {
    const proxy = await FakePhone.start();
    const trunk = await FakePhone.start();
    try {
      ua = await h.restartUa(T1, { outboundProxy: `127.0.0.1:${proxy.port}`, trustedSources: [`127.0.0.1:${trunk.port}`] });
      const result = dial();
      const invite = await proxy.request('INVITE'); // the INVITE goes to the proxy
      proxy.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact(), 'Content-Type: application/sdp'] });
      const r = await result;
      if (r.kind !== 'answered') throw new Error(r.kind);
      await phone.request('ACK'); // in-dialog requests go to the remote target
      const digits: string[] = [];
      r.dialog.onDtmfInfo((d) => digits.push(d));
      let seq = 2;
      for (const from of [phone, proxy, trunk]) {
        from.send(phoneRequest(from, invite, 'ph1', 'INFO', seq++, dtmf(String(seq))), ua.local);
        await from.response(200, 'INFO');
      }
      forger.send(phoneRequest(forger, invite, 'ph1', 'INFO', seq++, dtmf('0')), ua.local);
      await forger.response(403, 'INFO');
      expect(digits).toEqual(['3', '4', '5']);
    } finally {
      phone.answerByes = true;
      await h.restartUa(T1);
      await proxy.close();
      await trunk.close();
    }
  });

  it('refuses bad trustedSources entries at start-up', async () => {
    await expect(h.startUa(T1, { trustedSources: ['not an address'] })).rejects.toThrow(/trustedSources/);
  });

  it('CANCEL inside the call: 200 when it matches a re-INVITE (already answered), 481 when it matches nothing', async () => {
    const { invite } = await answer();
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    phone.send(phoneRequest(phone, invite, 'ph1', 'INVITE', 2, { branch, body: ANSWER, headers: ['Content-Type: application/sdp'] }), ua.local);
    await phone.response(200, 'INVITE');
    phone.send(phoneRequest(phone, invite, 'ph1', 'CANCEL', 2, { branch }), ua.local);
    await phone.response(200, 'CANCEL');
    phone.send(phoneRequest(phone, invite, 'ph1', 'ACK', 2), ua.local);
    phone.send(phoneRequest(phone, invite, 'ph1', 'CANCEL', 9), ua.local);
    await phone.response(481, 'CANCEL');
  });

  it('answers strangers statelessly: every out-of-dialog request answered, a retransmission with the same tag', async () => {
    const stranger = (i: number, method: string, branch = `z9hG4bK${i}x${randomBytes(4).toString('hex')}`) =>
      crlf([
        `${method} sip:callpay@127.0.0.1 SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${forger.port};rport;branch=${branch}`,
        'From: <sip:x@127.0.0.1>;tag=f',
        `To: <sip:callpay@127.0.0.1>${method === 'BYE' || method === 'INFO' ? ';tag=nope' : ''}`,
        `Call-ID: stranger-${i}`,
        `CSeq: 1 ${method}`,
        'Content-Length: 0',
        '',
        '',
      ]);
    for (let i = 0; i < 2000; i++) {
      forger.send(stranger(i, ['BYE', 'INVITE', 'OPTIONS', 'INFO'][i % 4]!), ua.local);
      if (i % 50 === 49) await forger.roundTrip(ua.local); // paced: the socket buffer must not overflow
    }
    await forger.roundTrip(ua.local);
    const answered = forger.all.filter((m) => m.msg.type === 'response' && m.msg.core.callId.startsWith('stranger-'));
    expect(answered.map((m) => m.msg.type === 'response' && m.msg.status).filter((s, i) => s !== [481, 603, 200, 481][i % 4])).toEqual([]);
    // A retransmission is answered again with the same To tag (RFC 3261 §8.2.6.2), though nothing was kept;
    // another request gets another tag.
    const again = stranger(5000, 'INVITE', 'z9hG4bKsame');
    forger.send(again, ua.local);
    forger.send(again, ua.local);
    forger.send(stranger(5001, 'INVITE', 'z9hG4bKother'), ua.local);
    await forger.roundTrip(ua.local);
    const tags = forger.all.filter((m) => ['stranger-5000', 'stranger-5001'].includes(m.msg.core.callId)).map((m) => m.msg.core.to.tag);
    expect(tags).toHaveLength(3);
    expect(tags[0]).toBe(tags[1]);
    expect(tags[2]).not.toBe(tags[0]);
  });
});
