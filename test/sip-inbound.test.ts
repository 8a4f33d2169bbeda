import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { createEmbeddedEngine } from '../src/telephony/embedded.js';
import type { CallEngine, IncomingCall } from '../src/telephony/engine.js';
import { FakePhone, NUMBER, OFFER, crlf } from './helpers/fake-phone.js';
import { freeRtpPortRange } from './helpers/rtp-phone.js';
import { Inbox } from './helpers/inbox.js';

/**
 * The embedded engine answering calls (issue 16 item 2, SIP side): a fake phone sends INVITEs to it.
 * Caller identity (From, P-Asserted-Identity) and whether the source is trusted reach the handler;
 * a refusal is a final response, CANCEL before the answer gets 200 + 487, an answer is a 200 with our
 * SDP whose dialog ends on the phone's BYE. Without `inbound`, INVITEs are declined (603) as before.
 */
describe('embedded engine: inbound calls', () => {
  let phone: FakePhone | undefined;
  let engine: (CallEngine & { sipPort: number }) | undefined;
  const logLines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void logLines.push(s) } });

  afterEach(async () => {
    if (phone) phone.answerByes = true;
    await engine?.close();
    await phone?.close();
    engine = undefined;
    phone = undefined;
    // the caller's number never reaches a log
    expect(logLines.join('')).not.toContain(NUMBER.slice(1));
  });

  async function start(inbound: boolean, trusted: (p: FakePhone) => string[]): Promise<{ phone: FakePhone; calls: Inbox<IncomingCall> }> {
    const p = await FakePhone.start();
    phone = p;
    const rtp = await freeRtpPortRange(4);
    engine = await createEmbeddedEngine({
      sip: {
        bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, requestUri: `sip:{e164}@127.0.0.1:${p.port}`, trustedSources: trusted(p),
        from: 'sip:callpay@127.0.0.1', displayName: 'callpay', username: null, password: null, ringTimeoutMs: 10_000,
      },
      rtp: { bindHost: '127.0.0.1', ...rtp },
      log, inbound, timers: { t1: 50 },
    });
    const calls = new Inbox<IncomingCall>('inbound calls');
    engine.onIncomingCall?.((c) => calls.push(c));
    return { phone: p, calls };
  }

  function invite(p: FakePhone, callId: string, opts: { pai?: string; branch?: string } = {}): string {
    return crlf([
      `INVITE sip:service@127.0.0.1:${engine!.sipPort} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${p.port};branch=${opts.branch ?? `z9hG4bK${callId}`};rport`,
      'Max-Forwards: 70',
      `From: <sip:${NUMBER}@127.0.0.1>;tag=caller1`,
      `To: <sip:service@127.0.0.1:${engine!.sipPort}>`,
      ...(opts.pai ? [`P-Asserted-Identity: ${opts.pai}`] : []),
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:${NUMBER}@127.0.0.1:${p.port}>`,
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(OFFER)}`,
      '',
      OFFER,
    ]);
  }

  const ua = () => ({ host: '127.0.0.1', port: engine!.sipPort });

  it('declines with 603 when inbound calls are off', async () => {
    const { phone: p } = await start(false, () => []);
    p.send(invite(p, 'off1'), ua());
    expect((await p.response(603, 'INVITE')).msg.core.callId).toBe('off1');
  });

  it('passes who is calling and whether the source is trusted; a refusal is final; CANCEL before the answer gets 487', async () => {
    const { phone: p, calls } = await start(true, (ph) => [`127.0.0.1:${ph.port}`]);
    p.send(invite(p, 'in1', { pai: '<sip:+886911111111@trunk.example>, <tel:+886922222222>' }), ua());
    await p.response(100, 'INVITE');
    const first = await calls.next(() => true, 3000);
    expect(first.caller).toEqual({ from: NUMBER, asserted: '+886911111111', trustedSource: true });
    first.reject('busy');
    await p.response(486, 'INVITE');

    p.send(invite(p, 'in2'), ua());
    const second = await calls.next(() => true, 3000);
    expect(second.caller.asserted).toBeNull();
    p.send(crlf([
      `CANCEL sip:service@127.0.0.1:${engine!.sipPort} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${p.port};branch=z9hG4bKin2;rport`,
      'Max-Forwards: 70', `From: <sip:${NUMBER}@127.0.0.1>;tag=caller1`, `To: <sip:service@127.0.0.1:${engine!.sipPort}>`,
      'Call-ID: in2', 'CSeq: 1 CANCEL', 'Content-Length: 0', '', '',
    ]), ua());
    await p.response(200, 'CANCEL');
    await p.response(487, 'INVITE');
    expect(await second.answer(log)).toBeNull();
  });

  it('an untrusted source is flagged; an answer is a 200 with our SDP, and the phone\'s BYE ends the call', async () => {
    const { phone: p, calls } = await start(true, () => ['127.0.0.2:5060']);
    p.send(invite(p, 'in3', { pai: `<sip:${NUMBER}@127.0.0.1>` }), ua());
    const incoming = await calls.next(() => true, 3000);
    expect(incoming.caller.trustedSource).toBe(false);
    const answering = incoming.answer(log);
    const ok = await p.response(200, 'INVITE');
    const call = await answering;
    expect(call).not.toBeNull();
    expect(ok.msg.body).toMatch(/m=audio \d+ RTP\/AVP 0 8 101/);
    const toTag = ok.msg.core.to.tag!;
    const dialog = (method: string, seq: number) => crlf([
      `${method} sip:service@127.0.0.1:${engine!.sipPort} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${p.port};branch=z9hG4bK${method}${seq};rport`,
      'Max-Forwards: 70', `From: <sip:${NUMBER}@127.0.0.1>;tag=caller1`, `To: <sip:service@127.0.0.1:${engine!.sipPort}>;tag=${toTag}`,
      'Call-ID: in3', `CSeq: ${seq} ${method}`, 'Content-Length: 0', '', '',
    ]);
    p.send(dialog('ACK', 1), ua());
    p.send(dialog('BYE', 2), ua());
    await p.response(200, 'BYE');
    expect((await call!.ended).outcome).toBe('hung_up');
  });
});
