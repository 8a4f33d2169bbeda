import type { PgQueryable } from './db.js';
import { execute, inUnit, queryOne, queryRows } from './db.js';
import type { AllowanceLock, FraudReport, FraudReportFilter } from '../../domain/fraud.js';
import type { FraudRepository } from '../../payments/repositories.js';
import { ALLOWANCE_LOCK_COLUMNS, FRAUD_REPORT_COLUMNS } from '../fraud.js';

/** Advisory lock class (two-int form) of a merchant's fraud-report count; see `record`. */
const MERCHANT_REPORTS_LOCK = 0x66726431; // "frd1"

/** Fraud reports and allowance locks, as src/store/fraud.ts. */
export class PgFraudRepository implements FraudRepository {
  constructor(private readonly q: PgQueryable) {}

  /**
   * Under READ COMMITTED two nodes recording reports for one merchant at once would each count
   * without the other's: the threshold could be passed with nobody seeing it reached. A
   * transaction-scoped advisory lock per merchant (held to the caller's commit) puts them in line.
   */
  async record(r: FraudReport, sinceIso: string): Promise<number> {
    return inUnit(this.q, async (db) => {
      await execute(db, 'SELECT pg_advisory_xact_lock($1, hashtext($2))', [MERCHANT_REPORTS_LOCK, r.merchantId]);
      await execute(
        db,
        `INSERT INTO fraud_reports (payment_id, merchant_id, consumer_id, amount, currency, reported_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (payment_id) DO NOTHING`,
        [r.paymentId, r.merchantId, r.consumerId, r.amount, r.currency, r.reportedAt],
      );
      const row = await queryOne<{ n: number }>(db, 'SELECT count(*) AS n FROM fraud_reports WHERE merchant_id = $1 AND reported_at >= $2', [r.merchantId, sinceIso]);
      return row?.n ?? 0;
    });
  }

  async list(f: FraudReportFilter): Promise<FraudReport[]> {
    return queryRows<FraudReport & Record<string, unknown>>(
      this.q,
      `SELECT ${FRAUD_REPORT_COLUMNS} FROM fraud_reports
       WHERE ($1::text IS NULL OR merchant_id = $1) AND ($2::text IS NULL OR consumer_id = $2) AND ($3::text IS NULL OR reported_at >= $3)
       ORDER BY reported_at DESC, payment_id DESC LIMIT $4`,
      [f.merchantId ?? null, f.consumerId ?? null, f.since ?? null, f.limit],
    );
  }

  async lockAllowance(l: AllowanceLock): Promise<void> {
    await execute(
      this.q,
      'INSERT INTO allowance_locks (consumer_id, reason, payment_id, locked_at) VALUES ($1, $2, $3, $4) ON CONFLICT (consumer_id) DO NOTHING',
      [l.consumerId, l.reason, l.paymentId, l.lockedAt],
    );
  }

  async allowanceLock(consumerId: string): Promise<AllowanceLock | undefined> {
    return queryOne<AllowanceLock & Record<string, unknown>>(this.q, `SELECT ${ALLOWANCE_LOCK_COLUMNS} FROM allowance_locks WHERE consumer_id = $1`, [consumerId]);
  }

  async unlockAllowance(consumerId: string): Promise<boolean> {
    return (await execute(this.q, 'DELETE FROM allowance_locks WHERE consumer_id = $1', [consumerId])) === 1;
  }
}
