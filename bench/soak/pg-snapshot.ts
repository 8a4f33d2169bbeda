// The soak's invariants on a PostgreSQL store: the same Snapshot as snapshot.ts, read from one
// REPEATABLE READ transaction (one consistent view while the nodes keep writing), then the same
// checks as checks.ts. SQLite's integrity pragmas have no counterpart to run here: PostgreSQL
// enforces the foreign keys itself, so those two facts are recorded as clean.
import type { PoolClient, QueryResultRow } from 'pg';
import type { PgPool } from '../../src/store/pg/db.js';
import { checkAcknowledged } from './check-acks.js';
import { checkLedger } from './check-ledger.js';
import { checkLiveness, type Phase } from './check-liveness.js';
import { checkPayments } from './check-payments.js';
import { Findings } from './findings.js';
import { Journal } from './journal.js';
import type { World } from './setup.js';
import type { AccountRow, PaymentRow, RefundRow, Snapshot, TransferRow, TransitionRow } from './snapshot.js';

/** Everything the checks read, as snapshot.ts selects it (rowid order becomes creation order, then id). */
export async function readPgSnapshot(pool: PgPool): Promise<Snapshot> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const all = async <T extends QueryResultRow>(sql: string) => (await client.query<T>(sql)).rows;
    const snapshot: Snapshot = {
      takenAt: Date.now(),
      integrity: ['ok'],
      foreignKeyProblems: 0,
      accounts: await all<AccountRow>(`SELECT l.id, l.code, l.billable_account_id, l.currency, l.debits_pending, l.debits_posted,
          l.credits_pending, l.credits_posted, b.plan, b.credit_limit
        FROM ledger_accounts l LEFT JOIN billable_accounts b ON b.id = l.billable_account_id`),
      transfers: await all<TransferRow>(`SELECT id, kind, debit_account_id, credit_account_id, amount, currency, pending_id, payment_id, refund_id, cycle
        FROM transfers ORDER BY created_at, id`),
      payments: await all<PaymentRow>(`SELECT id, merchant_id, amount, currency, reference, billable_account_id, status, decision,
          amount_refunded, authorized_at, expires_at FROM payments`),
      transitions: await all<TransitionRow>('SELECT payment_id, from_status, to_status FROM payment_transitions ORDER BY seq'),
      refunds: await all<RefundRow>('SELECT id, payment_id, amount, reason FROM refunds'),
      events: await all<{ payment_id: string | null; type: string }>('SELECT payment_id, type FROM events'),
      idempotency: await all<{ merchant_id: string; key: string; status_code: number; response: string }>('SELECT merchant_id, key, status_code, response FROM idempotency_keys'),
      callOutcomes: await all<{ outcome: string; n: number }>('SELECT outcome, count(*) AS n FROM call_attempts GROUP BY outcome'),
    };
    await client.query('COMMIT');
    return snapshot;
  } catch (e) {
    await rollback(client);
    throw e;
  } finally {
    client.release();
  }
}

async function rollback(client: PoolClient): Promise<void> {
  await client.query('ROLLBACK').catch(() => undefined);
}

/** checks.ts's checkDatabase on a PostgreSQL store (without the SQLite-only integrity check). */
export async function checkPgDatabase(pool: PgPool, world: World, journal: Journal, phase: Phase, label: string): Promise<{ findings: Findings; snapshot: Snapshot }> {
  const findings = new Findings(label);
  // The nodes may still be serving: only what was acknowledged before the snapshot must be in it.
  const acknowledged = copyOf(journal);
  const snapshot = await readPgSnapshot(pool);
  checkLedger(snapshot, findings);
  checkPayments(snapshot, findings, new Map(world.consumers.map((c) => [c.accountId, c.role])));
  checkAcknowledged(snapshot, findings, acknowledged, world.merchants.map((m) => m.id));
  checkLiveness(snapshot, findings, phase);
  return { findings, snapshot };
}

/** What checkAcknowledged reads of the journal, as it stands now (the load keeps adding to it). */
function copyOf(journal: Journal): Journal {
  const copy = new Journal();
  for (const [k, v] of journal.payments) copy.payments.set(k, v);
  for (const [k, v] of journal.refunds) copy.refunds.set(k, v);
  for (const [k, v] of journal.cancels) copy.cancels.set(k, v);
  for (const [k, v] of journal.seen) copy.seen.set(k, v);
  return copy;
}
