import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeBye, encodeRr, encodeSdesCname, encodeSr, looksLikeRtcp, ntpFromUnixMs, ntpMiddle, parseRtcp, type ReportBlock } from '../src/telephony/media/rtcp.js';
import { ReceptionStats } from '../src/telephony/media/rtcp-stats.js';
import { RtcpSession, type RtcpSenderState } from '../src/telephony/media/rtcp-session.js';
import { LATCH_PROBATION, RtpLatch } from '../src/telephony/media/latch.js';
import { InactivityWatch } from '../src/telephony/media/inactivity.js';
import { buildRtp, parseRtp } from '../src/telephony/media/rtp.js';
import { parseAnswer, buildOffer } from '../src/telephony/sip/sdp.js';
import { OfferAnswer } from '../src/telephony/sip/offer-answer.js';
import { loadConfig } from '../src/config/load.js';

const block: ReportBlock = { ssrc: 0xdeadbeef, fractionLost: 25, cumulativeLost: -3, highestSeq: 0x1_0005, jitter: 77, lsr: 0x12345678, dlsr: 65536 };
const quiet = { warn: () => {}, debug: () => {} };

describe('RTCP packets (RFC 3550 §6.4)', () => {
  it('round-trips a compound SR + SDES CNAME + BYE, and an RR', () => {
    const sender = { ntpSeconds: 3_900_000_000, ntpFraction: 0x80000000, rtpTimestamp: 0xfffffff0, packetCount: 1234, octetCount: 197_440 };
    const compound = Buffer.concat([encodeSr(0x01020304, sender, [block]), encodeSdesCname(0x01020304, 'callpay-cname'), encodeBye([0x01020304], 'done')]);
    expect(compound.length % 4).toBe(0);
    const r = parseRtcp(compound);
    expect(r).toEqual({
      ok: true,
      packets: [
        { type: 'sr', ssrc: 0x01020304, sender, reports: [block] },
        { type: 'sdes', chunks: [{ ssrc: 0x01020304, cname: 'callpay-cname' }] },
        { type: 'bye', ssrcs: [0x01020304], reason: 'done' },
      ],
    });
    expect(parseRtcp(encodeRr(7, []))).toEqual({ ok: true, packets: [{ type: 'rr', ssrc: 7, reports: [] }] });
    // CNAMEs of every length pad to a word boundary with at least one null octet.
    for (let n = 0; n < 9; n++) {
      const sdes = encodeSdesCname(9, 'x'.repeat(n));
      expect(sdes.length % 4).toBe(0);
      expect(parseRtcp(Buffer.concat([encodeRr(9, []), sdes]))).toMatchObject({ ok: true, packets: [{ type: 'rr' }, { type: 'sdes', chunks: [{ ssrc: 9, cname: 'x'.repeat(n) }] }] });
    }
  });

  it('demultiplexes RTCP from RTP on one port (RFC 5761 §4)', () => {
    expect(looksLikeRtcp(encodeRr(1, []))).toBe(true);
    expect(looksLikeRtcp(encodeSr(1, { ntpSeconds: 0, ntpFraction: 0, rtpTimestamp: 0, packetCount: 0, octetCount: 0 }, []))).toBe(true);
    for (const pt of [0, 8, 101, 96, 127]) {
      expect(looksLikeRtcp(buildRtp({ marker: true, payloadType: pt, sequence: 1, timestamp: 1, ssrc: 1 }, new Uint8Array(160)))).toBe(false);
    }
  });

  it('NTP timestamps and their middle 32 bits (LSR)', () => {
    const t = ntpFromUnixMs(Date.UTC(2026, 0, 1) + 500);
    expect(t.seconds).toBe(((Date.UTC(2026, 0, 1) / 1000 + 2_208_988_800) >>> 0));
    expect(t.fraction).toBe(2 ** 31);
    expect(ntpMiddle(0x1234abcd, 0x5678ef01)).toBe(0xabcd5678);
  });

  it('drops malformed compounds whole and never throws', () => {
    const rr = encodeRr(5, [block]);
    const sdes = encodeSdesCname(5, 'abc');
    const bad: Array<[string, Uint8Array]> = [
      ['empty', new Uint8Array(0)],
      ['too short', rr.subarray(0, 4)],
      ['not a word multiple', Buffer.concat([rr, Buffer.from([0])])],
      ['version 1', Buffer.from(rr).fill(0x40, 0, 1)],
      ['SDES first', Buffer.concat([sdes, rr])],
      ['BYE first', encodeBye([5])],
      ['length beyond the datagram', (() => { const b = Buffer.from(rr); b.writeUInt16BE(200, 2); return b; })()],
      ['report count beyond the packet', (() => { const b = encodeRr(5, []); b[0] = 0x80 | 3; return b; })()],
      ['trailing garbage', Buffer.concat([rr, Buffer.alloc(4)])],
      ['padding on a packet that is not last', (() => { const b = Buffer.concat([rr, sdes]); b[0] = b[0]! | 0x20; return b; })()],
      ['padding count larger than the packet', (() => { const b = Buffer.from(encodeRr(5, [])); b[0] = b[0]! | 0x20; b[b.length - 1] = 40; return b; })()],
      ['SDES item running past its packet', (() => { const b = Buffer.concat([encodeRr(5, []), Buffer.from(sdes)]); b[8 + 9] = 200; return b; })()],
      ['SDES chunk count beyond the packet', (() => { const b = Buffer.concat([encodeRr(5, []), Buffer.from(sdes)]); b[8] = 0x80 | 4; return b; })()],
    ];
    for (const [what, buf] of bad) expect(parseRtcp(buf).ok, what).toBe(false);
    // Random bytes and random mutations of a valid compound: a value every time.
    const good = Buffer.concat([encodeSr(1, { ntpSeconds: 1, ntpFraction: 2, rtpTimestamp: 3, packetCount: 4, octetCount: 5 }, [block]), sdes, encodeBye([1], 'x')]);
    for (let i = 0; i < 5000; i++) {
      const b = i % 2 ? randomBytes(i % 300) : Buffer.from(good);
      if (i % 2 === 0) for (let k = 0; k < 1 + (i % 4); k++) b[(i * 7 + k * 13) % b.length] = (i * 31 + k) & 0xff;
      const r = parseRtcp(b);
      expect(typeof r.ok).toBe('boolean');
    }
  });
});

describe('reception statistics for the report block (RFC 3550 A.1, A.3, A.8)', () => {
  const ssrc = 0xabc;
  const packet = (seq: number, ts = seq * 160) => ({ ssrc, sequence: seq & 0xffff, timestamp: ts >>> 0 });

  it('counts loss, fraction lost per interval, the extended highest sequence across a wrap', () => {
    const st = new ReceptionStats();
    expect(st.report(0)).toBeNull();
    const first = 65_500;
    // 100 packets sent (65500 .. 65599, wrapping at 65536), 10 of them lost.
    const lost = new Set([65_510, 65_511, 65_512, 65_530, 65_536, 65_537, 65_560, 65_570, 65_580, 65_599 - 1]);
    for (let s = first; s < first + 100; s++) if (!lost.has(s)) st.onRtp(packet(s), s * 20, true);
    const r1 = st.report(10_000)!;
    expect(r1).toMatchObject({ ssrc, cumulativeLost: 10, fractionLost: Math.floor((10 * 256) / 100), highestSeq: 65_536 + ((first + 99) & 0xffff) });
    // Next interval: 50 more, none lost; a duplicate and a late packet add nothing to the loss.
    for (let s = first + 100; s < first + 150; s++) st.onRtp(packet(s), s * 20, true);
    st.onRtp(packet(first + 149), 0, true);
    const r2 = st.report(20_000)!;
    expect(r2.fractionLost).toBe(0);
    expect(r2.cumulativeLost).toBe(9); // the duplicate counts as received (RFC 3550 A.3)
    expect(r2.highestSeq).toBe(65_536 + ((first + 149) & 0xffff));
  });

  it('takes a big jump as a restart only when the next packet confirms it', () => {
    const st = new ReceptionStats();
    for (let s = 0; s < 10; s++) st.onRtp(packet(s), s * 20, true);
    st.onRtp(packet(30_000), 300, true); // a stray: not counted, nothing changes
    expect(st.report(400)).toMatchObject({ cumulativeLost: 0, highestSeq: 9 });
    st.onRtp(packet(40_000), 400, true);
    st.onRtp(packet(40_001), 420, true); // the sender restarted at 40000
    expect(st.report(500)).toMatchObject({ cumulativeLost: 0, highestSeq: 40_001 });
  });

  it('estimates interarrival jitter from voice packets only', () => {
    const st = new ReceptionStats();
    // Every other packet 5 ms late: |D| = 5 ms = 40 timestamp units each time, so J tends to 40.
    for (let s = 0; s < 400; s++) st.onRtp(packet(s), s * 20 + (s % 2 ? 5 : 0), true);
    const j = st.report(10_000)!.jitter;
    expect(j).toBeGreaterThan(37);
    expect(j).toBeLessThanOrEqual(40);
    // Perfect spacing: no jitter; telephone-events (one timestamp per event) do not count.
    const even = new ReceptionStats();
    for (let s = 0; s < 50; s++) even.onRtp(packet(s), s * 20, true);
    for (let s = 50; s < 60; s++) even.onRtp(packet(s, 5000), s * 20, false);
    expect(even.report(2000)).toMatchObject({ jitter: 0, cumulativeLost: 0 });
  });

  it('echoes the last SR of the reported source as LSR, with DLSR the time since in 1/65536 s', () => {
    const st = new ReceptionStats();
    st.onRtp(packet(1), 0, true);
    st.onSenderReport(0x999, 0x11112222, 100); // another source's SR: not reported
    expect(st.report(200)).toMatchObject({ lsr: 0, dlsr: 0 });
    st.onSenderReport(ssrc, 0x33334444, 1000);
    expect(st.report(1500)).toMatchObject({ lsr: 0x33334444, dlsr: 32768 });
  });
});

describe('RTCP session', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('sends SR + SDES while we send, RR + SDES when we have not, and a BYE last', () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.5); // the middle of the randomized interval
    const sent: Buffer[] = [];
    const state: RtcpSenderState = { ssrc: 0x42, packets: 0, octets: 0, rtpTimestampAt: () => 1000 };
    const session = new RtcpSession({ intervalMs: 1000, sender: () => state, send: (p, done) => { sent.push(p); done?.(); }, log: quiet });
    session.start();
    vi.advanceTimersByTime(499); // the first report after half the interval (× 0.5..1.5)
    expect(sent.length).toBe(0);
    vi.advanceTimersByTime(1);
    expect(sent.length).toBe(1);
    const first = parseRtcp(sent[0]!);
    expect(first).toMatchObject({ ok: true, packets: [{ type: 'rr', ssrc: 0x42, reports: [] }, { type: 'sdes', chunks: [{ ssrc: 0x42 }] }] });
    state.packets = 50;
    state.octets = 8000;
    session.onRtp({ ssrc: 0x77, sequence: 1, timestamp: 0 }, true);
    vi.advanceTimersByTime(1000); // then every interval (× 0.5..1.5)
    expect(sent.length).toBe(2);
    expect(parseRtcp(sent[1]!)).toMatchObject({ ok: true, packets: [{ type: 'sr', ssrc: 0x42, sender: { packetCount: 50, octetCount: 8000, rtpTimestamp: 1000 }, reports: [{ ssrc: 0x77 }] }, { type: 'sdes' }] });
    // The CNAME is the same in every report of the session.
    const cname = (b: Buffer) => (parseRtcp(b) as { ok: true; packets: Array<{ type: string; chunks?: Array<{ cname: string | null }> }> }).packets[1]!.chunks![0]!.cname;
    expect(cname(sent[1]!)).toBe(cname(sent[0]!));
    let closed = false;
    session.bye(() => (closed = true));
    expect(closed).toBe(true);
    expect(parseRtcp(sent[2]!)).toMatchObject({ ok: true, packets: [{ type: 'sr' }, { type: 'sdes' }, { type: 'bye', ssrcs: [0x42] }] });
    vi.advanceTimersByTime(10_000);
    expect(sent.length).toBe(3); // stopped
  });

  it('randomizes the interval between 0.5 and 1.5 times Tmin (RFC 3550 §6.2)', () => {
    vi.useFakeTimers();
    const times: number[] = [];
    const session = new RtcpSession({ intervalMs: 1000, sender: () => ({ ssrc: 1, packets: 0, octets: 0, rtpTimestampAt: () => 0 }), send: () => times.push(Date.now()), log: quiet });
    const start = Date.now();
    session.start();
    vi.advanceTimersByTime(60_000);
    session.stop();
    const gaps = times.map((t, i) => t - (i === 0 ? start : times[i - 1]!));
    expect(gaps[0]).toBeGreaterThanOrEqual(250);
    expect(gaps[0]).toBeLessThanOrEqual(750);
    for (const g of gaps.slice(1)) {
      expect(g).toBeGreaterThanOrEqual(500);
      expect(g).toBeLessThanOrEqual(1500);
    }
    expect(new Set(gaps.slice(1)).size).toBeGreaterThan(10); // not a fixed period
  });

  it('counts malformed RTCP as ignored and takes the LSR from a valid SR', () => {
    const session = new RtcpSession({ intervalMs: 1000, sender: () => ({ ssrc: 1, packets: 1, octets: 160, rtpTimestampAt: () => 0 }), send: () => {}, log: quiet });
    session.onRtp({ ssrc: 9, sequence: 1, timestamp: 0 }, true);
    expect(session.receive(randomBytes(3))).toBe(false);
    expect(session.receive(encodeBye([9]))).toBe(false);
    expect(session.receive(encodeSr(9, { ntpSeconds: 0x0000abcd, ntpFraction: 0x12340000, rtpTimestamp: 0, packetCount: 1, octetCount: 1 }, []))).toBe(true);
    expect({ ignored: session.ignored, received: session.received }).toEqual({ ignored: 2, received: 1 });
    const parsed = parseRtcp(session.compound()!);
    expect(parsed).toMatchObject({ ok: true, packets: [{ type: 'sr', reports: [{ ssrc: 9, lsr: 0xabcd1234 }] }, { type: 'sdes' }] });
  });
});

describe('symmetric RTP latch', () => {
  const sdp = { address: '192.0.2.10', port: 4000 };
  const nat = { address: '203.0.113.5', port: 61000 };
  const rtp = (seq: number, opts: { pt?: number; ssrc?: number } = {}) => {
    const p = parseRtp(buildRtp({ marker: false, payloadType: opts.pt ?? 0, sequence: seq, timestamp: seq * 160, ssrc: opts.ssrc ?? 5 }, new Uint8Array(160)));
    if (!p.ok) throw new Error('test packet');
    return p.packet.header;
  };
  const latch = (symmetric = true) => new RtpLatch({ sdp, symmetric, payloadTypes: [0, 101] });

  it('latches at once to the SDP address; then drops every other source', () => {
    const l = latch();
    expect(l.check(sdp, rtp(1), 160)).toEqual({ accept: true, latchedNow: true });
    expect(l.moved).toBe(false);
    for (let s = 0; s < 10; s++) expect(l.check(nat, rtp(100 + s), 160).accept).toBe(false);
    expect(l.target).toEqual(sdp);
    expect(l.dropped).toBe(10);
  });

  it('latches to another source after LATCH_PROBATION valid packets of one SSRC in sequence, and only to the first', () => {
    const l = latch();
    for (let s = 0; s < LATCH_PROBATION - 1; s++) expect(l.check(nat, rtp(7 + s), 160)).toEqual({ accept: false });
    expect(l.target).toEqual(sdp); // still on probation
    expect(l.check(nat, rtp(7 + LATCH_PROBATION - 1), 160)).toEqual({ accept: true, latchedNow: true });
    expect(l.target).toEqual(nat);
    expect(l.moved).toBe(true);
    // A second source with the same SSRC and a perfect sequence, and the SDP address itself: dropped.
    const other = { address: '203.0.113.5', port: 61002 };
    for (let s = 0; s < 10; s++) expect(l.check(other, rtp(20 + s), 160).accept).toBe(false);
    expect(l.check(nat, rtp(60, { pt: 13 }), 160).accept).toBe(true); // the latched source: the receiver judges the rest
    expect(l.acceptsRtcpFrom({ address: nat.address, port: 61001 })).toBe(true);
    expect(l.acceptsRtcpFrom({ address: '198.51.100.1', port: 61001 })).toBe(false);
    // The SDP address itself: an invalid packet is dropped, a valid one takes the latch back.
    expect(l.check(sdp, rtp(50, { pt: 8 }), 160).accept).toBe(false);
    expect(l.check(sdp, rtp(51), 160)).toEqual({ accept: true, latchedNow: true });
    expect(l.target).toEqual(sdp);
    expect(l.check(nat, rtp(61), 160).accept).toBe(false);
  });

  it('never latches to invalid or sprayed packets: wrong payload type, empty, broken runs, changing SSRCs', () => {
    const l = latch();
    for (let s = 0; s < 20; s++) l.check(nat, rtp(s, { pt: 8 }), 160); // not negotiated
    for (let s = 0; s < 20; s++) l.check(nat, rtp(s), 0); // no payload
    for (let s = 0; s < 20; s++) l.check(nat, null, 0); // unparsable
    for (let s = 0; s < 20; s++) l.check(nat, rtp(s * 2), 160); // gaps
    for (let s = 0; s < 20; s++) l.check(nat, rtp(s, { ssrc: s }), 160); // a new SSRC each time
    for (let s = 0; s < 200; s++) l.check({ address: '198.51.100.7', port: 1000 + (s % 40) }, rtp(s), 160); // interleaved sources
    expect(l.target).toEqual(sdp);
  });

  it('keeps the latch across a re-INVITE to the same address, starts over on a new one; symmetric off = the SDP address only', () => {
    const l = latch();
    for (let s = 0; s < LATCH_PROBATION; s++) l.check(nat, rtp(s), 160);
    expect(RtpLatch.carry(l, { sdp, symmetric: true, payloadTypes: [8] }).target).toEqual(nat);
    const moved = RtpLatch.carry(l, { sdp: { address: '192.0.2.10', port: 4002 }, symmetric: true, payloadTypes: [0] });
    expect(moved.target).toEqual({ address: '192.0.2.10', port: 4002 });
    const off = latch(false);
    for (let s = 0; s < 20; s++) expect(off.check(nat, rtp(s), 160).accept).toBe(false);
    expect(off.check(sdp, rtp(1, { pt: 8 }), 160).accept).toBe(true);
    expect(off.target).toEqual(sdp);
  });
});

describe('inactivity watch', () => {
  afterEach(() => vi.useRealTimers());

  it('fires once after the timeout without media, is reset by media and suspended while not expected', () => {
    vi.useFakeTimers();
    let now = 0;
    const fired: number[] = [];
    const w = new InactivityWatch(1000, (ms) => fired.push(ms), () => now);
    const advance = (ms: number) => {
      now += ms;
      vi.advanceTimersByTime(ms);
    };
    w.expect(true);
    advance(900);
    w.heard();
    advance(900);
    expect(fired).toEqual([]);
    w.expect(false); // held: silence does not count
    advance(5000);
    expect(fired).toEqual([]);
    w.expect(true); // resumed: a whole timeout again
    advance(999);
    expect(fired).toEqual([]);
    advance(1);
    expect(fired).toEqual([1000]);
    advance(5000);
    expect(fired).toEqual([1000]);
    const off = new InactivityWatch(0, () => fired.push(-1), () => now);
    off.expect(true);
    advance(60_000);
    expect(fired).toEqual([1000]);
  });
});

describe('SDP: rtcp-mux and a=rtcp', () => {
  const answer = (extra: string[]) =>
    ['v=0', 'o=p 1 1 IN IP4 198.51.100.9', 's=-', 'c=IN IP4 198.51.100.9', 't=0 0', 'm=audio 30000 RTP/AVP 0 101', 'a=rtpmap:101 telephone-event/8000', ...extra, ''].join('\r\n');

  it('offers a=rtcp-mux and reads mux, a=rtcp and the phone direction from the answer', () => {
    expect(buildOffer({ host: '192.0.2.1', port: 40000 })).toContain('a=rtcp-mux\r\n');
    expect(buildOffer({ host: '192.0.2.1', port: 40000, rtcpMux: false })).not.toContain('rtcp-mux');
    expect(parseAnswer(answer([]))).toEqual({ ok: true, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101, remoteHost: '198.51.100.9', remotePort: 30000, send: true });
    expect(parseAnswer(answer(['a=rtcp-mux']))).toMatchObject({ ok: true, rtcpMux: true });
    expect(parseAnswer(answer(['a=rtcp:30011 IN IP4 198.51.100.10']))).toMatchObject({ ok: true, rtcp: { host: '198.51.100.10', port: 30011 } });
    expect(parseAnswer(answer(['a=rtcp:30011']))).toMatchObject({ ok: true, rtcp: { host: '198.51.100.9', port: 30011 } });
    expect(parseAnswer(answer(['a=rtcp:0']))).not.toHaveProperty('rtcp');
    expect(parseAnswer(answer(['a=recvonly']))).toMatchObject({ ok: true, send: true, receive: false });
    expect(parseAnswer(answer(['a=sendonly']))).not.toHaveProperty('receive');
  });

  it('answers a re-offer with a=rtcp-mux with a=rtcp-mux, and one without it without', () => {
    const offer = buildOffer({ host: '192.0.2.1', port: 40000, sessionId: 1 });
    const a = parseAnswer(answer(['a=rtcp-mux']));
    if (!a.ok) throw new Error(a.reason);
    const { ok: _ok, ...media } = a;
    const oa = new OfferAnswer(offer, media);
    const muxed = oa.answer(answer(['a=rtcp-mux', 'a=sendrecv']));
    expect(muxed).toMatchObject({ ok: true, media: { rtcpMux: true } });
    expect(muxed.ok && muxed.answer).toContain('a=rtcp-mux');
    const plain = oa.answer(answer(['a=rtcp:30001']));
    expect(plain).toMatchObject({ ok: true, media: { rtcp: { host: '198.51.100.9', port: 30001 } } });
    expect(plain.ok && plain.answer).not.toContain('rtcp-mux');
    expect(plain.ok && plain.media).not.toHaveProperty('rtcpMux');
    expect(oa.offer()).toContain('a=rtcp-mux'); // our own offer keeps offering it
  });
});

describe('config: telephony.rtp.inactivityTimeoutSeconds and telephony.rtp.symmetric', () => {
  const cwd = new URL('..', import.meta.url).pathname;
  it('defaults to 30 s and on; set from the environment; refused when malformed', () => {
    expect(loadConfig({ cwd, env: {} }).telephony.rtp).toMatchObject({ inactivityTimeoutSeconds: 30, symmetric: true });
    const env = { CALLPAY_TELEPHONY_RTP_SYMMETRIC: 'false', CALLPAY_TELEPHONY_RTP_INACTIVITY_TIMEOUT_SECONDS: '0' };
    expect(loadConfig({ cwd, env }).telephony.rtp).toMatchObject({ inactivityTimeoutSeconds: 0, symmetric: false });
    expect(() => loadConfig({ cwd, env: { CALLPAY_TELEPHONY_RTP_SYMMETRIC: 'yes' } })).toThrow(/telephony\.rtp\.symmetric/);
    expect(() => loadConfig({ cwd, env: { CALLPAY_TELEPHONY_RTP_INACTIVITY_TIMEOUT_SECONDS: '-1' } })).toThrow(/telephony\.rtp\.inactivityTimeoutSeconds/);
    expect(() => loadConfig({ cwd, env: { CALLPAY_TELEPHONY_RTP_INACTIVITY_TIMEOUT_SECONDS: '1.5' } })).toThrow(/telephony\.rtp\.inactivityTimeoutSeconds/);
  });
});
