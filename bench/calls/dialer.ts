// Paced dialing of one round's calls through the embedded engine: every answered call plays the
// enter-pin prompt in a loop and is hung up --hold-s after it answered.
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../src/log.js';
import type { Call, CallEngine } from '../../src/telephony/engine.js';
import { CLIP, NUMBER } from './config.js';
import { sleep, within } from './util.js';

export interface CallTrack {
  dialAt: number;
  answeredAt: number | null;
  endedAt: number | null;
  outcome: string;
}

/** One round's calls and what went wrong with them; updated until the last call has ended. */
export interface Dialing {
  tracks: CallTrack[];
  /** One per call: its dial has an outcome. */
  settled: Promise<void>[];
  /** One per answered call: it was hung up (or dropped) and has ended. */
  lifetimes: Promise<void>[];
  failures: Record<string, number>;
  firstFailure: string | null;
  playErrors: number;
  hangupErrors: number;
}

/** Dials n calls, call i at t0 + i/rate; resolves when the last one is dialed (not answered). */
export async function dialPaced(engine: CallEngine, engineLog: Logger, n: number, rate: number, holdS: number, t0: number): Promise<Dialing> {
  const d: Dialing = { tracks: [], settled: [], lifetimes: [], failures: {}, firstFailure: null, playErrors: 0, hangupErrors: 0 };
  const { tracks, settled, lifetimes, failures } = d;
  const fail = (t: CallTrack, kind: string, why: string) => {
    t.outcome = kind;
    failures[kind] = (failures[kind] ?? 0) + 1;
    d.firstFailure ??= `${kind}: ${why}`;
  };

  const keepPlaying = async (call: Call, isOver: () => boolean) => {
    // two prompts queued at all times: the next one is already queued when one ends (no gap)
    const loop = async () => {
      while (!isOver()) {
        try {
          const r = await call.play([CLIP, CLIP]);
          if (r.kind === 'hung_up') return;
        } catch (e) {
          if (!isOver()) d.playErrors++;
          return;
        }
      }
    };
    await Promise.all([loop(), loop()]);
  };

  const dialOne = (i: number) => {
    const t: CallTrack = { dialAt: performance.now(), answeredAt: null, endedAt: null, outcome: 'dialing' };
    tracks.push(t);
    settled.push((async () => {
      try {
        const r = await engine.dial({ number: NUMBER, log: engineLog });
        if (r.kind !== 'answered') {
          fail(t, r.kind, `SIP ${r.sipStatus ?? '-'} ${r.reason}`);
          return;
        }
        t.answeredAt = performance.now();
        t.outcome = 'answered';
        let over = false;
        const ended = r.call.ended.then(() => {
          over = true;
          t.endedAt = performance.now();
        });
        const hangupAt = t.answeredAt + holdS * 1000;
        lifetimes.push((async () => {
          const playing = keepPlaying(r.call, () => over);
          await Promise.race([ended, sleep(hangupAt - performance.now())]);
          if (!over) {
            try {
              await r.call.hangup();
            } catch (e) {
              d.hangupErrors++;
              d.firstFailure ??= `hang-up of call ${i}: ${e instanceof Error ? e.message : String(e)}`;
            }
          } else if (performance.now() < hangupAt - 1) {
            fail(t, 'dropped', `call ${i} ended ${((hangupAt - performance.now()) / 1000).toFixed(1)} s before its hang-up`);
          }
          await within(ended, 10_000, null);
          await within(playing, 5_000, null);
        })());
      } catch (e) {
        fail(t, 'error', e instanceof Error ? e.message : String(e));
      }
    })());
  };

  // Paced dialing: call i starts at t0 + i/rate; a late timer fires every call that is due.
  for (let i = 0; i < n;) {
    const due = t0 + (i * 1000) / rate;
    if (performance.now() >= due) dialOne(i++);
    else await sleep(due - performance.now());
  }
  return d;
}
