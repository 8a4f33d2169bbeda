// Nothing stuck: after a restart no payment is left in a call (start-up recovery ends them all) and,
// once the sweeper has run, no open payment is past its expiry; while a daemon ran long enough, its
// sweeper kept up (open payments past expiry, calls past expiry + grace).
import type { Findings } from './findings.js';
import type { Snapshot } from './snapshot.js';
import { CALL_GRACE_MS } from './env.js';

/** How long a sweeper may take to reach a payment that is due (its interval is 200 ms). */
export const SWEEP_SETTLE_MS = 5000;

export type Phase =
  /** Right after a SIGKILL, before the restart. */
  | { kind: 'crash'; killedAt: number; listeningSince: number | null }
  /** After the restart, once the sweeper has had its time. */
  | { kind: 'restarted'; readyAt: number }
  /** After the last, graceful stop (SIGTERM: calls drained). */
  | { kind: 'stopped'; stoppedAt: number; listeningSince: number | null };

const WAITING = ['requires_consumer', 'requires_password'];

export function checkLiveness(s: Snapshot, f: Findings, phase: Phase): void {
  const iso = (ms: number) => new Date(ms).toISOString();
  if (phase.kind === 'restarted') {
    for (const p of s.payments) {
      f.expect(p.status !== 'calling', 'no payment left in its call after a restart', () => `${p.id} (expires ${p.expires_at})`);
      f.expect(!(WAITING.includes(p.status) && p.expires_at <= iso(phase.readyAt)), 'nothing open past expiry once the sweeper ran', () =>
        `${p.id} ${p.status}, expired ${p.expires_at}, daemon ready ${iso(phase.readyAt)}`);
    }
    return;
  }
  const end = phase.kind === 'crash' ? phase.killedAt : phase.stoppedAt;
  if (phase.kind === 'stopped') {
    for (const p of s.payments) f.expect(p.status !== 'calling', 'no payment left in its call after a graceful stop', () => p.id);
  }
  if (phase.listeningSince === null) return;
  const since = phase.listeningSince;
  for (const p of s.payments) {
    const due = Date.parse(p.expires_at) + (p.status === 'calling' ? CALL_GRACE_MS : 0);
    if (!WAITING.includes(p.status) && p.status !== 'calling') continue;
    f.expect(Math.max(due, since) + SWEEP_SETTLE_MS >= end, 'the running sweeper expires what is due', () =>
      `${p.id} ${p.status}, due ${iso(due)}, daemon listening since ${iso(since)}, stopped ${iso(end)}`);
  }
}
