import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedEngine, type EmbeddedEngineOptions } from '../src/telephony/embedded.js';
import type { Call, CallEngine, CallRecord } from '../src/telephony/engine.js';
import { encodeSdesCname, encodeSr, ntpMiddle, parseRtcp, type ReportBlock, type RtcpPacket } from '../src/telephony/media/rtcp.js';
import { enrolPrepaid, finalOf, startCallingWorld, type TestWorld } from './helpers/daemon.js';
import { PhoneMedia, type Datagram } from './helpers/phone-media.js';
import { freeRtpPortRange } from './helpers/rtp-phone.js';
import { startSipp, type Sipp } from './helpers/sipp.js';
import { waitFor } from './helpers/wait.js';

const log = pino({ level: 'silent' });
const PIN_INPUT = { minDigits: 1, maxDigits: 8, terminators: '#', firstDigitTimeoutMs: 5000, interDigitTimeoutMs: 3000 };

/**
 * Checks one compound RTCP datagram by hand, independently of the parser under test (RFC 3550 §6.1,
 * A.2): version 2 throughout, lengths adding up to the datagram, SR or RR first, an SDES with a CNAME.
 */
function wellFormed(d: Datagram): { ssrc: number; types: number[]; cname: string } {
  const buf = d.data;
  const types: number[] = [];
  let cname: string | null = null;
  let at = 0;
  while (at < buf.length) {
    expect(at + 4, 'a header fits').toBeLessThanOrEqual(buf.length);
    expect(buf[at]! >> 6, 'version 2').toBe(2);
    expect(buf[at]! & 0x20, 'no padding').toBe(0);
    const length = (buf.readUInt16BE(at + 2) + 1) * 4;
    const type = buf[at + 1]!;
    types.push(type);
    if (type === 202 && buf[at + 8] === 1) cname = buf.toString('utf8', at + 10, at + 10 + buf[at + 9]!);
    at += length;
  }
  expect(at, 'lengths add up to the datagram').toBe(buf.length);
  expect([200, 201]).toContain(types[0]);
  expect(cname, 'SDES CNAME').toBeTruthy();
  return { ssrc: buf.readUInt32BE(4), types, cname: cname! };
}

const packetsOf = (d: Datagram): RtcpPacket[] => {
  const r = parseRtcp(d.data);
  return r.ok ? r.packets : [];
};

const reportAbout = (d: Datagram, ssrc: number): ReportBlock | undefined => {
  const first = packetsOf(d)[0];
  return first && (first.type === 'sr' || first.type === 'rr') ? first.reports.find((r) => r.ssrc === ssrc) : undefined;
};

/** The phone's sender report (an NTP time we choose, so its middle 32 bits can be recognized in LSR). */
function phoneSr(ssrc: number): { packet: Buffer; middle: number } {
  const ntpSeconds = 3_950_000_000 + Math.floor(Math.random() * 1000);
  const ntpFraction = 0x5a5a0000;
  const packet = Buffer.concat([encodeSr(ssrc, { ntpSeconds, ntpFraction, rtpTimestamp: 1234, packetCount: 60, octetCount: 9600 }, []), encodeSdesCname(ssrc, 'phone@test')]);
  return { packet, middle: ntpMiddle(ntpSeconds, ntpFraction) };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

/**
 * RTCP and the RTP inactivity timeout of the embedded engine against sipp as the phone's signalling;
 * the phone's media is a pair of UDP sockets of the test (RTP, RTCP on its port + 1).
 */
describe('embedded engine: RTCP and media inactivity, against sipp', { timeout: 60_000 }, () => {
  let sipp: Sipp | undefined;
  let engine: (CallEngine & { sipPort: number }) | undefined;
  const media: PhoneMedia[] = [];

  afterEach(async () => {
    await engine?.close();
    await sipp?.stop();
    for (const m of media.splice(0)) await m.close();
    engine = undefined;
    sipp = undefined;
  });

  async function phoneMedia(rtcp: 'next' | 'any' | 'none' = 'next'): Promise<PhoneMedia> {
    const m = await PhoneMedia.open({ rtcp });
    media.push(m);
    return m;
  }

  async function call(scenario: string, vars: Record<string, string>, rtp: Partial<EmbeddedEngineOptions['rtp']>): Promise<{ call: Call; sipp: Sipp }> {
    sipp = await startSipp({ scenario, vars, timeoutMs: 30_000 });
    engine = await createEmbeddedEngine({
      sip: {
        bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, requestUri: `sip:{number}@127.0.0.1:${sipp.port}`,
        from: 'sip:callpay@127.0.0.1', displayName: 'callpay', username: null, password: null, ringTimeoutMs: 10_000,
      },
      rtp: { bindHost: '127.0.0.1', ...(await freeRtpPortRange(4)), ...rtp },
      log,
      timers: { t1: 100 },
    });
    const r = await engine.dial({ number: '+886912345678', log });
    if (r.kind !== 'answered') throw new Error(`not answered: ${r.kind}`);
    return { call: r.call, sipp };
  }

  it('sends compound RTCP to the RTP port + 1: SR with a report of the phone stream (loss, LSR/DLSR), SDES CNAME, our SSRC; BYE at the end', async () => {
    const m = await phoneMedia('next');
    const { call: c, sipp: s } = await call('answer-capture', { rtp_port: String(m.rtpPort) }, { rtcpIntervalMs: 200 });
    await waitFor('our RTP at the phone', () => m.rtp.length >= 5);
    const ours = m.peer()!;
    const [ourSsrc] = [...m.rtpSsrcs()];
    // The phone's stream: 60 frames, 5 of them lost on the way; then its sender report to our RTCP port.
    await m.talk(ours, 60, { skip: new Set([10, 11, 30, 45, 50]) });
    const sr = phoneSr(m.ssrc);
    await m.send(sr.packet, { address: ours.address, port: ours.port + 1 }, 'rtcp');

    const echoed = await waitFor('a report echoing the phone SR as LSR', () => m.rtcp.find((d) => reportAbout(d, m.ssrc)?.lsr === sr.middle));
    expect(reportAbout(echoed, m.ssrc)).toMatchObject({ cumulativeLost: 5, highestSeq: m.lastSequence });
    const dlsr = reportAbout(echoed, m.ssrc)!.dlsr;
    expect(dlsr).toBeGreaterThan(0);
    expect(dlsr).toBeLessThan(65536 * 5); // under 5 s since the phone's SR
    await waitFor('three reports', () => m.rtcp.length >= 3);

    await c.hangup();
    await waitFor('RTCP BYE', () => m.rtcp.some((d) => packetsOf(d).some((p) => p.type === 'bye' && p.ssrcs.includes(ourSsrc!))));
    const checked = m.rtcp.map(wellFormed);
    expect(new Set(checked.map((x) => x.ssrc))).toEqual(new Set([ourSsrc]));
    expect(new Set(checked.map((x) => x.cname)).size).toBe(1);
    expect(checked.every((x) => x.types[0] === 200)).toBe(true); // we send RTP: sender reports
    expect(checked.at(-1)!.types).toEqual([200, 202, 203]);
    const first = packetsOf(m.rtcp[0]!)[0];
    expect(first?.type === 'sr' && first.sender.packetCount).toBeGreaterThan(0);
    expect(m.muxedRtcp).toEqual([]); // not muxed: nothing but RTP on the RTP port
    expect((await s.outcome()).code, s.logs()).toBe(0);
  });

  it('with a=rtcp-mux in the answer: RTCP on the RTP port both ways, nothing at port + 1, digits still counted', async () => {
    const m = await phoneMedia('next');
    const { call: c, sipp: s } = await call('answer-capture-mux', { rtp_port: String(m.rtpPort) }, { rtcpIntervalMs: 200 });
    await waitFor('our RTP at the phone', () => m.rtp.length >= 5);
    const ours = m.peer()!;
    const [ourSsrc] = [...m.rtpSsrcs()];
    await m.talk(ours, 10);
    const sr = phoneSr(m.ssrc);
    await m.send(sr.packet, ours, 'rtp'); // muxed: the phone's RTCP goes to our RTP port
    await waitFor('a muxed report echoing the phone SR', () => m.muxedRtcp.find((d) => reportAbout(d, m.ssrc)?.lsr === sr.middle));
    await m.keys('12#', 101, ours);
    expect(await c.collect(PIN_INPUT)).toEqual({ kind: 'digits', digits: '12', reason: 'terminator', terminator: '#' });
    await c.hangup();
    await waitFor('RTCP BYE on the RTP port', () => m.muxedRtcp.some((d) => packetsOf(d).some((p) => p.type === 'bye')));
    expect(new Set(m.muxedRtcp.map(wellFormed).map((x) => x.ssrc))).toEqual(new Set([ourSsrc]));
    expect(m.rtcp).toEqual([]);
    expect(m.rtp.every((d) => (d.data[1]! & 0x7f) === 0)).toBe(true); // only PCMU audio among the RTP
    expect((await s.outcome()).code, s.logs()).toBe(0);
  });

  it('sends RTCP to the port of the answer a=rtcp (RFC 3605)', async () => {
    const m = await phoneMedia('any');
    expect(m.rtcpPort).not.toBe(m.rtpPort + 1);
    const { call: c, sipp: s } = await call('answer-capture-rtcp', { rtp_port: String(m.rtpPort), rtcp_port: String(m.rtcpPort) }, { rtcpIntervalMs: 200 });
    await waitFor('reports at the a=rtcp port', () => m.rtcp.length >= 2);
    m.rtcp.forEach(wellFormed);
    await c.hangup();
    expect((await s.outcome()).code, s.logs()).toBe(0);
  });

  it('ends a call whose phone sends no media with BYE: CDR failed / media_timeout, pending input hung up', async () => {
    const m = await phoneMedia('none');
    const answeredAt = performance.now();
    const { call: c, sipp: s } = await call('answer-capture', { rtp_port: String(m.rtpPort) }, { inactivityTimeoutSeconds: 1 });
    const input = c.collect({ ...PIN_INPUT, firstDigitTimeoutMs: 20_000 });
    const record = await within(c.ended, 8000, 'the call ending on its own');
    expect(record).toMatchObject({ outcome: 'failed', reason: 'media_timeout' });
    expect(performance.now() - answeredAt).toBeGreaterThanOrEqual(900);
    expect(await input).toEqual({ kind: 'hung_up' });
    expect((await s.outcome()).code, s.logs()).toBe(0); // sipp got our BYE and answered it
  });

  it('RTP, then RTCP alone, keep the call up; the timeout counts from the last of them', async () => {
    const m = await phoneMedia('next');
    const { call: c, sipp: s } = await call('answer-capture', { rtp_port: String(m.rtpPort) }, { inactivityTimeoutSeconds: 2 });
    let ended: CallRecord | null = null;
    void c.ended.then((r) => (ended = r));
    await waitFor('our RTP at the phone', () => m.peer());
    const ours = m.peer()!;
    await m.talk(ours, 150); // 3 s of RTP
    for (let i = 0; i < 12; i++) {
      // 3 s of RTCP only, every 250 ms
      await m.send(phoneSr(m.ssrc).packet, { address: ours.address, port: ours.port + 1 }, 'rtcp');
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(ended).toBeNull();
    const quietFrom = performance.now();
    const record = await within(c.ended, 8000, 'the call ending after the phone fell silent');
    expect(record).toMatchObject({ outcome: 'failed', reason: 'media_timeout' });
    expect(performance.now() - quietFrom).toBeGreaterThanOrEqual(1500);
    expect((await s.outcome()).code, s.logs()).toBe(0);
  });

  it('a hold (sendonly) suspends the timeout; on resume it counts again', async () => {
    const m = await phoneMedia('none');
    const answeredAt = performance.now();
    // Silent throughout: 300 ms, then held 4 s (twice the 2 s timeout), then resumed.
    const { call: c, sipp: s } = await call('hold-silent', { rtp_port: String(m.rtpPort), reinvite_after_ms: '300', hold_ms: '4000' }, { inactivityTimeoutSeconds: 2 });
    const record = await within(c.ended, 15_000, 'the call ending after the resume');
    expect(record).toMatchObject({ outcome: 'failed', reason: 'media_timeout' });
    expect(performance.now() - answeredAt).toBeGreaterThanOrEqual(5500); // the hold, then the whole timeout again
    // sipp fails its call on a BYE before its resume has been answered.
    expect((await s.outcome()).code, s.logs()).toBe(0);
    expect(s.actionLog()).toMatch(/hold answered: a=recvonly/);
    expect(s.actionLog()).toMatch(/resume answered: a=sendrecv/);
  });
});

describe('end to end: a payment whose phone falls silent', { timeout: 90_000 }, () => {
  let w: TestWorld | undefined;
  let sipp: Sipp | undefined;
  let m: PhoneMedia | undefined;

  afterEach(async () => {
    await w?.close();
    await sipp?.stop();
    await m?.close();
  });

  it('fails with media_timeout when the answered phone never sends RTP', async () => {
    m = await PhoneMedia.open();
    sipp = await startSipp({ scenario: 'answer-capture', vars: { rtp_port: String(m.rtpPort) }, timeoutMs: 40_000 });
    w = await startCallingWorld(sipp.port, {
      CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000',
      CALLPAY_TELEPHONY_RTP_INACTIVITY_TIMEOUT_SECONDS: '2',
      CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '30000',
    });
    const t = w;
    await enrolPrepaid(t, 'alice', '1000');
    const created = await t.api('POST', '/v1/payments', { idem: `silent-${Math.random()}`, body: { amount: 15000, currency: 'TWD', reference: 'silent', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: 'alice' } });
    expect(created.body).toMatchObject({ status: 'calling' });
    expect(await finalOf(t, created.body.id)).toMatchObject({ status: 'failed', failure_code: 'media_timeout' });
    const transitions = (await t.api('GET', `/v1/payments/${created.body.id}/transitions`)).body.data as Array<{ to: string; reason: string }>;
    expect(transitions.at(-1)).toMatchObject({ to: 'failed', reason: 'call: media_timeout' });
    const attempts = t.db.prepare('SELECT outcome, reason, answered_at FROM call_attempts WHERE payment_id = ?').all(created.body.id);
    expect(attempts).toEqual([expect.objectContaining({ outcome: 'failed', reason: 'media_timeout' })]);
    expect(m.rtp.length).toBeGreaterThan(0); // the announcement was playing
    expect((await sipp.outcome()).code, sipp.logs()).toBe(0);
  });
});
