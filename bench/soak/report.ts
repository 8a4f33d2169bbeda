// The soak's printed result: what ran, what was checked, and every violation with its examples.
import { cpus } from 'node:os';
import type { SoakOptions, SoakSummary } from './soak.js';

export function report(o: SoakOptions, s: SoakSummary): string {
  const j = s.journal;
  const kv = (r: Record<string, number>) => Object.entries(r).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const lines = [
    `seed ${s.seed}; node ${process.version}; ${cpus().length} cpus; concurrency ${o.concurrency}; kill ${o.killAfterMs.min}-${o.killAfterMs.max} ms after ready; ` +
      `${Math.round(o.startupKillChance * 100)}% of restarts also killed during start-up`,
    `runs ${s.runs}, kills ${s.kills} (${s.startupKills} during start-up), wall ${(s.durationMs / 1000).toFixed(1)} s` +
      (s.environmentFailures ? `; ${s.environmentFailures} restarts retried because a module could not be loaded (node_modules changed)` : ''),
    `acknowledged: payments ${j.paymentsAcked}, refunds ${j.refundsAcked}, cancels ${j.cancelsAcked}; refused ${j.refused}; ` +
      `lost answers ${j.lost} (retried after restart: ${j.lostRetriedCommitted} had committed, ${j.lostRetriedNotCommitted} had not)`,
    `database: payments ${s.paymentsInDb} (${kv(s.statuses)}); refunds ${s.refundsInDb}`,
    `calls: ${kv(s.callOutcomes)}`,
    `checks: ${s.databaseChecks} database checks, ${s.checksPerformed} facts checked, ${j.replaysChecked} Idempotency-Key replays`,
    `violations: ${s.violations.reduce((n, v) => n + v.count, 0)}`,
  ];
  for (const v of s.violations) {
    lines.push(`  [${v.phase}] ${v.invariant}: ${v.count}×`);
    for (const e of v.examples) lines.push(`      ${e.split('\n').join('\n      ')}`);
  }
  if (s.dir) lines.push(`kept for inspection: ${s.dir} (callpay.db, serve.log)`);
  return lines.join('\n');
}
