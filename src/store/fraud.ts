import type { Db } from './db.js';
import type { AllowanceLock, FraudReport, FraudReportFilter } from '../domain/fraud.js';

/** Column aliases shared with the PostgreSQL repository, so both return the same objects. */
export const FRAUD_REPORT_COLUMNS = `payment_id AS "paymentId", merchant_id AS "merchantId", consumer_id AS "consumerId", amount, currency,
  reported_at AS "reportedAt"`;
export const ALLOWANCE_LOCK_COLUMNS = 'consumer_id AS "consumerId", reason, payment_id AS "paymentId", locked_at AS "lockedAt"';

/**
 * Fraud reports and allowance locks on the embedded store. One writer at a time (SQLite), so the
 * count after an insert already sees every earlier report.
 */
export class FraudRepository {
  constructor(private readonly db: Db) {}

  record(r: FraudReport, sinceIso: string): number {
    return this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO fraud_reports (payment_id, merchant_id, consumer_id, amount, currency, reported_at)
           VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (payment_id) DO NOTHING`,
        )
        .run(r.paymentId, r.merchantId, r.consumerId, r.amount, r.currency, r.reportedAt);
      return this.db.prepare('SELECT count(*) FROM fraud_reports WHERE merchant_id = ? AND reported_at >= ?').pluck().get(r.merchantId, sinceIso) as number;
    }).immediate();
  }

  list(f: FraudReportFilter): FraudReport[] {
    return this.db
      .prepare(
        `SELECT ${FRAUD_REPORT_COLUMNS} FROM fraud_reports
         WHERE (@merchantId IS NULL OR merchant_id = @merchantId) AND (@consumerId IS NULL OR consumer_id = @consumerId)
           AND (@since IS NULL OR reported_at >= @since)
         ORDER BY reported_at DESC, payment_id DESC LIMIT @limit`,
      )
      .all({ merchantId: f.merchantId ?? null, consumerId: f.consumerId ?? null, since: f.since ?? null, limit: f.limit }) as FraudReport[];
  }

  lockAllowance(l: AllowanceLock): void {
    this.db
      .prepare('INSERT INTO allowance_locks (consumer_id, reason, payment_id, locked_at) VALUES (?, ?, ?, ?) ON CONFLICT (consumer_id) DO NOTHING')
      .run(l.consumerId, l.reason, l.paymentId, l.lockedAt);
  }

  allowanceLock(consumerId: string): AllowanceLock | undefined {
    return this.db.prepare(`SELECT ${ALLOWANCE_LOCK_COLUMNS} FROM allowance_locks WHERE consumer_id = ?`).get(consumerId) as AllowanceLock | undefined;
  }

  unlockAllowance(consumerId: string): boolean {
    return this.db.prepare('DELETE FROM allowance_locks WHERE consumer_id = ?').run(consumerId).changes === 1;
  }
}
