// After a restart, the merchant retries acknowledged requests with the same Idempotency-Key and
// body: each must come back as the same payment (or refund), marked as a replay, and change nothing.
import { request } from './client.js';
import type { Findings } from './findings.js';
import type { AckedPayment, AckedRefund, Journal } from './journal.js';
import type { Rng } from './rng.js';
import type { World } from './setup.js';

/** Acknowledged in the run that was just killed, plus a few older ones. */
function sample<T extends { run: number }>(items: Iterable<T>, run: number, rng: Rng, older: number): T[] {
  const all = [...items];
  const recent = all.filter((a) => a.run === run);
  const before = all.filter((a) => a.run !== run);
  const picked = Array.from({ length: Math.min(older, before.length) }, () => rng.pick(before));
  return [...recent, ...new Set(picked)];
}

export async function replayAcknowledged(base: string, world: World, journal: Journal, run: number, rng: Rng, f: Findings): Promise<void> {
  const signal = AbortSignal.timeout(60_000);
  const items: Array<AckedPayment | AckedRefund> = [...sample(journal.payments.values(), run, rng, 3), ...sample(journal.refunds.values(), run, rng, 3)];
  for (let i = 0; i < items.length; i += 8) {
    await Promise.all(items.slice(i, i + 8).map(async (acked) => {
      const a = await request(base, acked.path, { method: 'POST', apiKey: world.merchants[acked.merchant]!.apiKey, idempotencyKey: acked.key, body: acked.body, signal });
      journal.counters.replaysChecked++;
      f.expect(a.kind === 'ok' && a.replayed && a.status === 201 && a.body?.id === acked.id, 'Idempotency-Key replay after restart returns the same write', () =>
        `${acked.key} (acknowledged ${acked.id} in run ${acked.run}): ${a.kind === 'ok' ? `${a.status} id ${a.body?.id} replayed ${a.replayed}` : JSON.stringify(a)}`);
    }));
  }
}
