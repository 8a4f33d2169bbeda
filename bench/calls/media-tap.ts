// The media worker's statistics. createEmbeddedEngine keeps its MediaEngine private, so the bench
// finds the engine's worker (the Worker that receives the first media `open` message) and asks it with
// the worker's own `stats` message (protocol.ts; a request id session.ts never uses, so session.ts
// ignores the answer). Nothing else in the engine changes.
import { Worker } from 'node:worker_threads';
import type { EngineStats, FromWorker, ToWorker } from '../../src/telephony/media/protocol.js';

export const mediaTap = (() => {
  const original = Worker.prototype.postMessage;
  let armed = false;
  let found: Worker | null = null;
  let nextReq = 2_000_000_000;
  const isOpen = (v: unknown): boolean =>
    typeof v === 'object' && v !== null && (v as { op?: unknown }).op === 'open' && 'portMin' in v && 'sid' in v;
  Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker['postMessage']>): void {
    if (armed && found === null && isOpen(args[0])) found = this;
    original.apply(this, args);
  };
  return {
    /** The next engine's worker will be captured at its first `open`. */
    arm(): void {
      armed = true;
      found = null;
    },
    worker(): Worker {
      if (!found) throw new Error('the media worker was not seen (no call opened a media session)');
      return found;
    },
    stats(reset: boolean): Promise<EngineStats> {
      const w = this.worker();
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
    },
  };
})();
