// Every write the merchant side was told about (a 2xx) is in the database, as it was told; every
// terminal state it saw is still there; every Idempotency-Key it got an answer for is stored.
import type { Findings } from './findings.js';
import type { Snapshot } from './snapshot.js';
import { CHARGED, type Journal } from './journal.js';

/** Where a payment may be now, given a status the merchant was shown earlier. */
function reachable(shown: string, now: string): boolean {
  if (shown === now) return true;
  switch (shown) {
    case 'requires_consumer':
    case 'requires_password':
      return true;
    case 'calling':
      return now !== 'requires_consumer' && now !== 'requires_password';
    case 'succeeded':
      return (CHARGED as readonly string[]).includes(now);
    case 'partially_refunded':
      return now === 'refunded';
    default:
      return false; // declined, failed, expired, canceled, refunded are final
  }
}

export function checkAcknowledged(s: Snapshot, f: Findings, journal: Journal, merchantIds: readonly string[]): void {
  const payments = new Map(s.payments.map((p) => [p.id, p]));
  const refunds = new Map(s.refunds.map((r) => [r.id, r]));
  const refundEntries = new Set(s.transfers.filter((t) => t.kind === 'refund').map((t) => t.refund_id));
  const keys = new Map(s.idempotency.map((k) => [`${k.merchant_id} ${k.key}`, k]));
  const storedId = (merchant: number, key: string) => {
    const row = keys.get(`${merchantIds[merchant]} ${key}`);
    if (!row) return undefined;
    try {
      return { status: row.status_code, id: (JSON.parse(row.response) as { id?: string }).id };
    } catch {
      return { status: row.status_code, id: undefined };
    }
  };

  for (const a of journal.payments.values()) {
    const p = payments.get(a.id);
    f.expect(p !== undefined, 'acknowledged payment present', () => `${a.id} (key ${a.key}, answered ${a.status} in run ${a.run})`);
    if (!p) continue;
    f.expect(p.merchant_id === merchantIds[a.merchant] && p.amount === a.body.amount && p.reference === a.body.reference, 'acknowledged payment as created', () =>
      `${a.id}: ${p.merchant_id}/${p.amount}/${p.reference} vs ${merchantIds[a.merchant]}/${a.body.amount}/${a.body.reference}`);
    f.expect(reachable(a.status, p.status), 'acknowledged payment status not rolled back', () => `${a.id}: answered ${a.status}, now ${p.status}`);
    const stored = storedId(a.merchant, a.key);
    f.expect(stored?.id === a.id && stored.status === 201, 'acknowledged Idempotency-Key stored with its answer', () => `${a.key}: stored ${JSON.stringify(stored)}, answered ${a.id}`);
  }
  for (const a of journal.refunds.values()) {
    const r = refunds.get(a.id);
    f.expect(r !== undefined && r.payment_id === a.paymentId && r.amount === a.amount, 'acknowledged refund present', () =>
      `${a.id} of ${a.paymentId} for ${a.amount} (key ${a.key}, run ${a.run}): ${r ? `${r.payment_id} ${r.amount}` : 'missing'}`);
    f.expect(refundEntries.has(a.id), 'acknowledged refund in the ledger', () => a.id);
    const stored = storedId(a.merchant, a.key);
    f.expect(stored?.id === a.id && stored.status === 201, 'acknowledged Idempotency-Key stored with its answer', () => `${a.key}: stored ${JSON.stringify(stored)}, answered ${a.id}`);
  }
  for (const id of journal.cancels.keys()) {
    f.expect(payments.get(id)?.status === 'canceled', 'acknowledged cancel kept', () => `${id}: now ${payments.get(id)?.status ?? 'missing'}`);
  }
  for (const [id, shown] of journal.seen) {
    const now = payments.get(id)?.status;
    f.expect(now !== undefined && reachable(shown, now), 'a status the merchant saw is not rolled back', () => `${id}: saw ${shown}, now ${now ?? 'missing'}`);
  }
}
