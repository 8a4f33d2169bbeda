import type { Logger } from '../../log.js';
import { MediaError } from './errors.js';
import { IntervalHistogram } from './histogram.js';
import type { EngineStats } from './protocol.js';
import { createMediaEngine, type MediaEngine, type MediaEngineOptions, type MediaSession } from './session.js';
import { ClipCache } from './wav.js';

/**
 * Several media workers behind one MediaEngine: each worker paces its own share of the streams on
 * its own thread, so one thread's send time (≈ 45 % of it in the socket send itself) no longer
 * bounds how many calls keep 20 ms time. A new session goes to the worker with the fewest open
 * sessions; each worker binds from its own slice of the RTP port range, so they never race for a
 * port; prompts are decoded once for all. One worker = the plain engine (session.ts).
 */
export function createMediaPool(opts: MediaEngineOptions & { workers: number }): MediaEngine {
  const { workers, ...base } = opts;
  if (!Number.isSafeInteger(workers) || workers < 1) throw new MediaError('config_invalid', 'telephony.rtp.workers must be a whole number ≥ 1');
  const slices = portSlices(base.portMin, base.portMax, workers);
  if (slices.length <= 1) return createMediaEngine(base);
  const clips = base.clips ?? new ClipCache();
  const members = slices.map(([portMin, portMax], i) => ({
    engine: createMediaEngine({ ...base, portMin, portMax, clips, log: base.log.child({ mediaWorker: i }) }),
    open: 0,
  }));

  return {
    async openSession(o: { log?: Logger } = {}): Promise<MediaSession> {
      const order = [...members].sort((a, b) => a.open - b.open);
      let lastError: unknown;
      // The least busy first; a worker whose slice is full (ports_exhausted) passes to the next.
      for (const m of order) {
        m.open++;
        try {
          const session = await m.engine.openSession(o);
          void session.ended.then(() => m.open--);
          return session;
        } catch (e) {
          m.open--;
          lastError = e;
          if (!(e instanceof MediaError) || e.code !== 'ports_exhausted') throw e;
        }
      }
      throw lastError;
    },
    async stats(o = {}) {
      const all = await Promise.all(members.map((m) => m.engine.stats(o)));
      return mergeStats(all);
    },
    async close() {
      await Promise.all(members.map((m) => m.engine.close()));
    },
  };
}

/** [portMin, portMax] cut into n slices of whole RTP/RTCP pairs (fewer when there are not n pairs). */
export function portSlices(portMin: number, portMax: number, n: number): Array<[number, number]> {
  const first = portMin + (portMin & 1);
  const last = portMax - (portMax & 1 ? 1 : 2);
  const pairs = last >= first ? (last - first) / 2 + 1 : 0;
  const count = Math.max(1, Math.min(n, pairs));
  if (count === 1) return [[portMin, portMax]];
  const out: Array<[number, number]> = [];
  let start = 0;
  for (let i = 0; i < count; i++) {
    const size = Math.floor(pairs / count) + (i < pairs % count ? 1 : 0);
    out.push([first + 2 * start, first + 2 * (start + size) - 1]);
    start += size;
  }
  return out;
}

/** One engine's figures from several workers': totals added, send intervals merged bucket by bucket. */
export function mergeStats(all: readonly EngineStats[]): EngineStats {
  const intervals = new IntervalHistogram();
  const sum = (f: (s: EngineStats) => number) => all.reduce((a, s) => a + f(s), 0);
  for (const s of all) if (s.sendIntervalHistogram) intervals.merge(s.sendIntervalHistogram);
  const threadIds = all.flatMap((s) => (s.threadId === undefined ? [] : [s.threadId]));
  const merged: EngineStats = {
    sessions: sum((s) => s.sessions),
    sent: sum((s) => s.sent),
    received: sum((s) => s.received),
    digits: sum((s) => s.digits),
    ignored: sum((s) => s.ignored),
    resyncs: sum((s) => s.resyncs),
    rtcpSent: sum((s) => s.rtcpSent),
    rtcpReceived: sum((s) => s.rtcpReceived),
    sendIntervalMs: intervals.summary(),
    sendIntervalHistogram: intervals.export(),
    heapUsedBytes: sum((s) => s.heapUsedBytes ?? 0),
    threadIds,
  };
  if (threadIds[0] !== undefined) merged.threadId = threadIds[0];
  return merged;
}
