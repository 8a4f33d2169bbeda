import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { createEmbeddedEngine } from '../src/telephony/embedded.js';
import type { CallEngine } from '../src/telephony/engine.js';
import { FakePhone, NUMBER, crlf, phoneRequest } from './helpers/fake-phone.js';
import { freeRtpPortRange } from './helpers/rtp-phone.js';
import { RtpEndpoint } from './helpers/rtp-socket.js';
import { waitFor } from './helpers/wait.js';

const sdp = (v: number, port: number, m: string, attrs: string[]) =>
  crlf(['v=0', `o=phone 7 ${v} IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP ${m}`, ...attrs, '']);

/**
 * Issue 10, D7, as media sees it: the embedded engine (SIP UA + RTP worker) against a fake phone whose
 * re-INVITEs hold the call, then resume it on another port with other codecs and another
 * telephone-event payload type. Held = nothing sent; resumed = sent to the new address, the stream's
 * sequence running on; digits keep counting throughout (RFC 4733 with the new payload type, and INFO),
 * while RTP from the old address or with the old payload type is ignored.
 */
describe('embedded engine: media follows re-INVITEs', () => {
  let phone: FakePhone;
  let a: RtpEndpoint;
  let b: RtpEndpoint;
  let engine: (CallEngine & { sipPort: number }) | undefined;
  const logLines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void logLines.push(s) } });

  beforeEach(async () => {
    phone = await FakePhone.start();
    a = await RtpEndpoint.open(0xa);
    b = await RtpEndpoint.open(0xb);
    const rtp = await freeRtpPortRange(4);
    engine = await createEmbeddedEngine({
      sip: {
        bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, requestUri: `sip:{e164}@127.0.0.1:${phone.port}`,
        from: 'sip:callpay@127.0.0.1', displayName: 'callpay', username: null, password: null, ringTimeoutMs: 10_000,
      },
      rtp: { bindHost: '127.0.0.1', ...rtp },
      log,
      timers: { t1: 50 },
    });
  });
  afterEach(async () => {
    phone.answerByes = true;
    await engine?.close();
    await Promise.all([phone.close(), a.close(), b.close()]);
    expect(logLines.join('')).not.toContain(NUMBER.slice(1));
  });

  it('hold stops our RTP; resume on a new port, codec and event payload type; digits counted throughout', async () => {
    const dialing = engine!.dial({ number: NUMBER, log });
    const invite = await phone.request('INVITE');
    const ourRtp = { address: '127.0.0.1', port: Number(/m=audio (\d+)/.exec(invite.msg.body)?.[1]) };
    const contact = `Contact: <sip:phone@127.0.0.1:${phone.port}>`;
    const pcmu = ['a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15'];
    phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: sdp(1, a.port, '0 101', pcmu), headers: [contact, 'Content-Type: application/sdp'] });
    const r = await dialing;
    if (r.kind !== 'answered') throw new Error(r.kind);
    await phone.request('ACK');
    await waitFor('RTP at the first address', () => a.received.length >= 5);
    expect(a.received[0]).toMatchObject({ payloadType: 0, marker: true });

    const reinvite = async (seq: number, body: string) => {
      phone.send(phoneRequest(phone, invite, 'ph1', 'INVITE', seq, { body, headers: [contact, 'Content-Type: application/sdp'] }), { host: '127.0.0.1', port: engine!.sipPort });
      const ok = await phone.response(200, 'INVITE');
      phone.send(phoneRequest(phone, invite, 'ph1', 'ACK', seq), { host: '127.0.0.1', port: engine!.sipPort });
      return { ok, at: performance.now() };
    };

    // Hold: the phone only sends. We answer recvonly and fall silent, but still hear its keys.
    const hold = await reinvite(2, sdp(2, a.port, '0 101', [...pcmu, 'a=sendonly']));
    expect(hold.ok.msg.body).toContain('a=recvonly');
    await a.sendDigits('1', 101, ourRtp);
    const holdWindow = 600; // a measurement window: our 20 ms stream would put ~30 packets in it
    await new Promise((res) => setTimeout(res, holdWindow));
    const duringHold = a.received.filter((p) => p.at > hold.at + 60); // one frame may be in flight at the switch
    expect(duringHold).toEqual([]);
    const lastA = a.received.at(-1)!;

    // Resume at another port, PCMA first and telephone-event as 96.
    const pcma = ['a=rtpmap:8 PCMA/8000', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:96 telephone-event/8000', 'a=fmtp:96 0-16'];
    const resume = await reinvite(3, sdp(3, b.port, '8 0 96', pcma));
    expect(resume.ok.msg.body).toContain('a=sendrecv');
    expect(resume.ok.msg.body).toContain('RTP/AVP 8 0 96');
    await waitFor('RTP at the new address', () => b.received.length >= 5);
    const firstB = b.received[0]!;
    expect(firstB).toMatchObject({ payloadType: 8, marker: true, sequence: (lastA.sequence + 1) & 0xffff });
    // Time ran on while nothing was sent: the timestamp jumped by about the hold (8 samples per ms).
    expect(((firstB.timestamp - lastA.timestamp) >>> 0) / 8).toBeGreaterThan(holdWindow * 0.9);
    const aCount = a.received.length;

    await a.sendDigits('2', 101, ourRtp); // the old address: ignored
    await b.sendDigits('34', 96, ourRtp);
    await b.sendDigits('9', 101, ourRtp); // the old payload type: ignored
    phone.send(phoneRequest(phone, invite, 'ph1', 'INFO', 4, { body: 'Signal=5\r\nDuration=100\r\n', headers: ['Content-Type: application/dtmf-relay'] }), { host: '127.0.0.1', port: engine!.sipPort });
    await phone.response(200, 'INFO');
    await b.sendDigits('#', 96, ourRtp);
    const input = await r.call.collect({ minDigits: 1, maxDigits: 8, terminators: '#', firstDigitTimeoutMs: 3000, interDigitTimeoutMs: 3000 });
    expect(input).toEqual({ kind: 'digits', digits: '1345', reason: 'terminator', terminator: '#' });
    expect(a.received.length).toBe(aCount); // nothing went back to the old address
    await r.call.hangup();
    expect(await r.call.ended).toMatchObject({ digitCount: 5 });
  });
});
