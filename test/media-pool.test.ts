import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { IntervalHistogram } from '../src/telephony/media/histogram.js';
import { createMediaPool, mergeStats, portSlices } from '../src/telephony/media/media-pool.js';
import type { EngineStats } from '../src/telephony/media/protocol.js';
import type { MediaEngine, MediaSession } from '../src/telephony/media/session.js';
import { freeRtpPortRange } from './helpers/rtp-phone.js';
import { waitFor } from './helpers/wait.js';

const log = createLogger({ level: 'silent' });

describe('media pool: streams spread over several media workers', () => {
  it('cuts the port range into slices of whole RTP/RTCP pairs, never more slices than pairs', () => {
    expect(portSlices(20000, 29999, 2)).toEqual([[20000, 24999], [25000, 29999]]);
    expect(portSlices(20001, 20010, 2)).toEqual([[20002, 20005], [20006, 20009]]); // pairs 20002, 20004 | 20006, 20008
    expect(portSlices(20000, 20007, 3)).toEqual([[20000, 20003], [20004, 20005], [20006, 20007]]);
    expect(portSlices(20000, 20001, 4)).toEqual([[20000, 20001]]);
    expect(portSlices(20000, 29999, 1)).toEqual([[20000, 29999]]);
  });

  it('merges the workers’ send intervals bucket by bucket and adds their totals', () => {
    const a = new IntervalHistogram();
    const b = new IntervalHistogram();
    const both = new IntervalHistogram();
    for (let i = 0; i < 990; i++) [a, both].forEach((h) => h.add(20 + (i % 10) * 0.1));
    for (let i = 0; i < 30; i++) [b, both].forEach((h) => h.add(24 + i * 0.2));
    const stats = (h: IntervalHistogram, sessions: number, threadId: number): EngineStats => ({
      sessions, sent: sessions * 100, received: 1, digits: 2, ignored: 3, resyncs: 0, rtcpSent: 4, rtcpReceived: 5,
      sendIntervalMs: h.summary(), sendIntervalHistogram: h.export(), threadId, heapUsedBytes: 1000,
    });
    const merged = mergeStats([stats(a, 3, 11), stats(b, 2, 12)]);
    expect(merged.sendIntervalMs).toEqual(both.summary());
    expect(merged).toMatchObject({ sessions: 5, sent: 500, received: 2, digits: 4, ignored: 6, rtcpSent: 8, rtcpReceived: 10, threadIds: [11, 12], threadId: 11, heapUsedBytes: 2000 });
  });

  let engine: MediaEngine | undefined;
  let peer: Socket | undefined;
  afterEach(async () => {
    await engine?.close();
    await new Promise<void>((r) => (peer ? peer.close(() => r()) : r()));
    engine = undefined;
    peer = undefined;
  });

  it('opens each new session on the least busy worker, in its slice; a closed session frees its place; totals cover all', async () => {
    const ports = await freeRtpPortRange(8);
    engine = createMediaPool({ bindHost: '127.0.0.1', ...ports, log, workers: 2 });
    const [low, high] = portSlices(ports.portMin, ports.portMax, 2) as [[number, number], [number, number]];
    const inSlice = (s: MediaSession, [min, max]: [number, number]) => s.localPort >= min && s.localPort <= max;
    const p = createSocket('udp4');
    peer = p;
    await new Promise<void>((r) => p.bind(0, '127.0.0.1', () => r()));
    const received = new Map<number, number>();
    p.on('message', (_m, rinfo) => received.set(rinfo.port, (received.get(rinfo.port) ?? 0) + 1));

    const s1 = await engine.openSession();
    const s2 = await engine.openSession();
    expect([inSlice(s1, low), inSlice(s2, high)]).toEqual([true, true]);
    await s1.close();
    const s3 = await engine.openSession(); // the first worker has none open now
    expect(inSlice(s3, low)).toBe(true);
    for (const s of [s2, s3]) await s.start({ host: '127.0.0.1', port: p.address().port, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101 });
    await waitFor('RTP from both workers', () => (received.get(s2.localPort) ?? 0) >= 10 && (received.get(s3.localPort) ?? 0) >= 10);
    const stats = await engine.stats();
    expect(stats.sessions).toBe(2);
    expect(stats.threadIds).toHaveLength(2);
    expect(stats.sent).toBeGreaterThanOrEqual(20);
    expect(stats.sendIntervalMs.count).toBeGreaterThanOrEqual(18);
  });

  it('passes a session to the other worker when its slice has no free port', async () => {
    const ports = await freeRtpPortRange(2); // two pairs: one per worker
    engine = createMediaPool({ bindHost: '127.0.0.1', ...ports, log, workers: 2 });
    const [low, high] = portSlices(ports.portMin, ports.portMax, 2) as [[number, number], [number, number]];
    // Someone else holds the first worker's only RTP port.
    const squatter = createSocket('udp4');
    peer = squatter;
    await new Promise<void>((r) => squatter.bind(low[0], '127.0.0.1', () => r()));
    const a = await engine.openSession();
    expect(a.localPort).toBe(high[0]);
    await expect(engine.openSession()).rejects.toMatchObject({ code: 'ports_exhausted' });
  });
});
