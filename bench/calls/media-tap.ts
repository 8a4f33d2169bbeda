// The media workers' statistics. createEmbeddedEngine keeps its media engine private, so the bench
// finds the engine's media workers (each Worker that is sent a media `open` message; with
// telephony.rtp.workers > 1 there are several) and asks each with the worker's own `stats` message
// (protocol.ts; a request id session.ts never uses, so session.ts ignores the answer), merging the
// answers as the engine's pool does (media-pool.ts mergeStats). Nothing else in the engine changes.
import { Worker } from 'node:worker_threads';
import { mergeStats } from '../../src/telephony/media/media-pool.js';
import type { EngineStats, FromWorker, ToWorker } from '../../src/telephony/media/protocol.js';

export const mediaTap = (() => {
  const original = Worker.prototype.postMessage;
  let armed = false;
  const found: Worker[] = [];
  let nextReq = 2_000_000_000;
  const isOpen = (v: unknown): boolean =>
    typeof v === 'object' && v !== null && (v as { op?: unknown }).op === 'open' && 'portMin' in v && 'sid' in v;
  Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker['postMessage']>): void {
    if (armed && isOpen(args[0]) && !found.includes(this)) found.push(this);
    original.apply(this, args);
  };

  function ask(w: Worker, reset: boolean): Promise<EngineStats> {
    const req = nextReq++;
    return new Promise<EngineStats>((resolve, reject) => {
      const timer = setTimeout(() => {
        w.off('message', on);
        reject(new Error('media worker did not answer a stats request within 5 s'));
      }, 5000);
      const on = (m: FromWorker) => {
        if (m.ev !== 'stats' || m.req !== req) return;
        clearTimeout(timer);
        w.off('message', on);
        if (!m.stats || !('sessions' in m.stats)) reject(new Error('media worker returned no engine stats'));
        else resolve(m.stats);
      };
      w.on('message', on);
      original.call(w, { op: 'stats', req, sid: null, reset } satisfies ToWorker);
    });
  }

  return {
    /** The next engine's workers will be captured at their first `open`. */
    arm(): void {
      armed = true;
      found.length = 0;
    },
    workers(): Worker[] {
      if (found.length === 0) throw new Error('no media worker was seen (no call opened a media session)');
      return [...found];
    },
    /** All workers' figures merged (totals added, send intervals merged bucket by bucket). */
    async stats(reset: boolean): Promise<EngineStats> {
      return mergeStats(await Promise.all(this.workers().map((w) => ask(w, reset))));
    },
  };
})();
