import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedEngine } from '../src/telephony/embedded.js';
import type { Call, CallEngine } from '../src/telephony/engine.js';
import { parseRtcp } from '../src/telephony/media/rtcp.js';
import { enrolPrepaid, finalOf, startCallingWorld, type TestWorld } from './helpers/daemon.js';
import { FakePhone, NUMBER, crlf, phoneRequest } from './helpers/fake-phone.js';
import { PhoneMedia } from './helpers/phone-media.js';
import { freeRtpPortRange } from './helpers/rtp-phone.js';
import { startSipp, type Sipp } from './helpers/sipp.js';
import { waitFor } from './helpers/wait.js';

const log = pino({ level: 'silent' });
const PIN = '482916';
const SSRC = 0x4e4a7001;
const input = (firstDigitTimeoutMs = 5000) => ({ minDigits: 1, maxDigits: 8, terminators: '#', firstDigitTimeoutMs, interDigitTimeoutMs: 3000 });

/**
 * Symmetric RTP (issue 12, item 5) against sipp as the phone's signalling. The phone's SDP names socket
 * A (port X); the phone "behind NAT" sends its RTP from socket B instead; socket C, elsewhere, sends
 * valid RTP with the same SSRC after B. Callpay must move its RTP (and RTCP, to B's port + 1) to B,
 * count B's digits and not C's; with symmetric off, everything stays with A and B is ignored.
 */
describe('embedded engine: symmetric RTP (latching), against sipp', { timeout: 60_000 }, () => {
  let sipp: Sipp | undefined;
  let engine: (CallEngine & { sipPort: number }) | undefined;
  const sockets: PhoneMedia[] = [];

  afterEach(async () => {
    await engine?.close();
    await sipp?.stop();
    for (const m of sockets.splice(0)) await m.close();
    engine = undefined;
    sipp = undefined;
  });

  async function open(rtcp: 'next' | 'none' = 'none'): Promise<PhoneMedia> {
    const m = await PhoneMedia.open({ ssrc: SSRC, rtcp });
    sockets.push(m);
    return m;
  }

  async function call(sdpPort: number, symmetric: boolean): Promise<{ call: Call; sipp: Sipp }> {
    sipp = await startSipp({ scenario: 'answer-capture', vars: { rtp_port: String(sdpPort) }, timeoutMs: 30_000 });
    engine = await createEmbeddedEngine({
      sip: {
        bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, requestUri: `sip:{number}@127.0.0.1:${sipp.port}`,
        from: 'sip:callpay@127.0.0.1', displayName: 'callpay', username: null, password: null, ringTimeoutMs: 10_000,
      },
      rtp: { bindHost: '127.0.0.1', ...(await freeRtpPortRange(4)), symmetric, rtcpIntervalMs: 200 },
      log,
      timers: { t1: 100 },
    });
    const r = await engine.dial({ number: NUMBER, log });
    if (r.kind !== 'answered') throw new Error(`not answered: ${r.kind}`);
    return { call: r.call, sipp };
  }

  it('sends RTP and RTCP where the phone sends from, counts its digits, ignores a second source with the same SSRC', async () => {
    const a = await open('next');
    const b = await open('next');
    const c = await open();
    const { call: cl, sipp: s } = await call(a.rtpPort, true);
    await waitFor('our RTP at the SDP address', () => a.rtp.length >= 3);
    const ours = a.peer()!;
    await b.talk(ours, 10);
    await waitFor('our RTP at the phone\'s real source', () => b.rtp.length >= 5);
    const aAtLatch = a.rtp.length;
    // Reports go to the source's port + 1 now, about our stream and the phone's.
    const report = await waitFor('RTCP at the source port + 1', () => b.rtcp.find((d) => {
      const p = parseRtcp(d.data);
      return p.ok && p.packets[0]?.type === 'sr' && p.packets[0].reports.some((r) => r.ssrc === SSRC);
    }));
    expect(parseRtcp(report.data).ok).toBe(true);

    await c.keys('99', 101, ours); // same SSRC, another source: dropped
    await b.keys('12#', 101, ours);
    expect(await cl.collect(input())).toEqual({ kind: 'digits', digits: '12', reason: 'terminator', terminator: '#' });
    await b.talk(ours, 5);
    expect(a.rtp.length - aAtLatch).toBeLessThanOrEqual(1); // at most one frame was already on its way
    expect(c.rtp).toEqual([]);
    expect(b.rtp.length).toBeGreaterThan(20);
    await cl.hangup();
    expect(await cl.ended).toMatchObject({ digitCount: 3 });
    expect((await s.outcome()).code, s.logs()).toBe(0);
  });

  it('with symmetric off: RTP keeps going to the SDP address and the other source is ignored', async () => {
    const a = await open();
    const b = await open();
    const { call: cl, sipp: s } = await call(a.rtpPort, false);
    await waitFor('our RTP at the SDP address', () => a.rtp.length >= 3);
    const ours = a.peer()!;
    await b.talk(ours, 10);
    await b.keys('12#', 101, ours);
    expect(await cl.collect(input(800))).toEqual({ kind: 'no_input' });
    const aBefore = a.rtp.length;
    await a.keys('34#', 101, ours);
    expect(await cl.collect(input())).toEqual({ kind: 'digits', digits: '34', reason: 'terminator', terminator: '#' });
    expect(a.rtp.length).toBeGreaterThan(aBefore + 10); // still sending to A
    expect(b.rtp).toEqual([]);
    await cl.hangup();
    expect((await s.outcome()).code, s.logs()).toBe(0);
  });
});

describe('embedded engine: a re-INVITE to a new address drops the latch', () => {
  let phone: FakePhone | undefined;
  let engine: (CallEngine & { sipPort: number }) | undefined;
  const sockets: PhoneMedia[] = [];

  afterEach(async () => {
    if (phone) phone.answerByes = true;
    await engine?.close();
    await phone?.close();
    for (const m of sockets.splice(0)) await m.close();
  });

  it('latched to the NAT source, then moved by a re-INVITE: media goes to the new SDP address, the old source is ignored', async () => {
    phone = await FakePhone.start();
    const [a, b, d] = await Promise.all([PhoneMedia.open({ ssrc: SSRC }), PhoneMedia.open({ ssrc: SSRC }), PhoneMedia.open({ ssrc: SSRC + 1 })]);
    sockets.push(a, b, d);
    engine = await createEmbeddedEngine({
      sip: {
        bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, requestUri: `sip:{e164}@127.0.0.1:${phone.port}`,
        from: 'sip:callpay@127.0.0.1', displayName: 'callpay', username: null, password: null, ringTimeoutMs: 10_000,
      },
      rtp: { bindHost: '127.0.0.1', ...(await freeRtpPortRange(4)), symmetric: true },
      log,
      timers: { t1: 50 },
    });
    const sdp = (v: number, port: number) => crlf(['v=0', `o=phone 7 ${v} IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0 101`, 'a=rtpmap:101 telephone-event/8000', '']);
    const dialing = engine.dial({ number: NUMBER, log });
    const invite = await phone.request('INVITE');
    const ours = { address: '127.0.0.1', port: Number(/m=audio (\d+)/.exec(invite.msg.body)?.[1]) };
    const contact = `Contact: <sip:phone@127.0.0.1:${phone.port}>`;
    phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: sdp(1, a.rtpPort), headers: [contact, 'Content-Type: application/sdp'] });
    const r = await dialing;
    if (r.kind !== 'answered') throw new Error(r.kind);
    await phone.request('ACK');
    await b.talk(ours, 8);
    await waitFor('RTP at the latched source', () => b.rtp.length >= 5);

    phone.send(phoneRequest(phone, invite, 'ph1', 'INVITE', 2, { body: sdp(2, d.rtpPort), headers: [contact, 'Content-Type: application/sdp'] }), { host: '127.0.0.1', port: engine.sipPort });
    await phone.response(200, 'INVITE');
    phone.send(phoneRequest(phone, invite, 'ph1', 'ACK', 2), { host: '127.0.0.1', port: engine.sipPort });
    await waitFor('RTP at the new SDP address', () => d.rtp.length >= 5);
    // The old source still sends for a while (it may latch again: the latch started over), then the
    // new address sends: the SDP address wins, the old source is ignored from then on.
    await b.talk(ours, 10);
    await d.talk(ours, 3);
    const bAfterMove = b.rtp.length;
    await b.keys('5', 101, ours);
    await d.keys('6#', 101, ours);
    expect(await r.call.collect(input())).toEqual({ kind: 'digits', digits: '6', reason: 'terminator', terminator: '#' });
    expect(b.rtp.length - bAfterMove).toBeLessThanOrEqual(1);
    const dBefore = d.rtp.length;
    await waitFor('our RTP still at the new address', () => d.rtp.length >= dBefore + 5);
    await r.call.hangup();
  });
});

describe('end to end: a payment through a phone behind NAT', { timeout: 90_000 }, () => {
  let w: TestWorld | undefined;
  let sipp: Sipp | undefined;
  const sockets: PhoneMedia[] = [];

  afterEach(async () => {
    await w?.close();
    await sipp?.stop();
    for (const m of sockets.splice(0)) await m.close();
  });

  it('latches to the socket the phone sends from, takes its PIN and not the same-SSRC intruder\'s keys', async () => {
    const [a, b, c] = await Promise.all([PhoneMedia.open({ ssrc: SSRC }), PhoneMedia.open({ ssrc: SSRC }), PhoneMedia.open({ ssrc: SSRC })]);
    sockets.push(a, b, c);
    sipp = await startSipp({ scenario: 'answer-capture', vars: { rtp_port: String(a.rtpPort) }, timeoutMs: 60_000 });
    // telephony.rtp.symmetric is on by default.
    w = await startCallingWorld(sipp.port, { CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000', CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '30000' });
    const t = w;
    await enrolPrepaid(t, 'alice', '1000');
    const created = await t.api('POST', '/v1/payments', { idem: `nat-${Math.random()}`, body: { amount: 15000, currency: 'TWD', reference: 'nat', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: 'alice' } });
    expect(created.body).toMatchObject({ status: 'calling' });
    await waitFor('the announcement at the SDP address', () => a.rtp.length >= 3, { timeoutMs: 20_000 });
    const ours = a.peer()!;
    await b.talk(ours, 10);
    await waitFor('the announcement at the phone\'s real source', () => b.rtp.length >= 5);
    await c.keys('999999#', 101, ours); // a wrong PIN from elsewhere: were it counted, the payment would not succeed
    await b.keys(`${PIN}#`, 101, ours);
    expect(await finalOf(t, created.body.id)).toMatchObject({ status: 'succeeded' });
    const digits = t.db.prepare('SELECT digit_count FROM call_attempts WHERE payment_id = ?').pluck().all(created.body.id);
    expect(digits).toEqual([PIN.length + 1]);
    expect(t.db.prepare('SELECT count(*) FROM pin_failures').pluck().get()).toBe(0);
    expect(b.rtp.length).toBeGreaterThan(20);
    expect(c.rtp).toEqual([]);
    expect((await sipp.outcome()).code, sipp.logs()).toBe(0);
  });
});
