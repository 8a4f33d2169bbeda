import type { Db } from './db.js';
import type { DeliveryInfo, DeliveryStatus, DueDelivery } from '../domain/event.js';

/**
 * SQL over `webhook_deliveries` for the dispatcher and the CLI. Rows are only ever written while
 * `status = 'pending'`, so an outcome is recorded once even if two writers race.
 */
export class DeliveryRepository {
  constructor(private readonly db: Db) {}

  due(nowIso: string, limit: number): DueDelivery[] {
    return this.db
      .prepare(
        `SELECT d.id, d.merchant_id AS merchantId, d.url, d.attempts, d.next_attempt_at AS nextAttemptAt,
                d.give_up_at AS giveUpAt, e.id AS eventId, e.type AS eventType, e.data AS eventData,
                e.created_at AS eventCreatedAt
         FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq
         WHERE d.status = 'pending' AND d.next_attempt_at <= ?
         ORDER BY d.next_attempt_at, d.created_at, d.id LIMIT ?`,
      )
      .all(nowIso, limit) as DueDelivery[];
  }

  /**
   * Takes a lease by pushing next_attempt_at past the request's timeout, compare-and-set on the value
   * we read. Another dispatcher (or this one's next poll) then skips the row; if this process dies
   * mid-request the row is still pending and becomes due again when the lease runs out.
   */
  claim(d: DueDelivery, leaseUntilIso: string): boolean {
    return this.db
      .prepare(`UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ? AND status = 'pending' AND next_attempt_at = ?`)
      .run(leaseUntilIso, d.id, d.nextAttemptAt).changes === 1;
  }

  markDelivered(id: string, httpStatus: number, nowIso: string): void {
    this.db
      .prepare(
        `UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_status = ?, last_error = NULL,
           delivered_at = ? WHERE id = ? AND status = 'pending'`,
      )
      .run(httpStatus, nowIso, id);
  }

  /** `nextAttemptIso` null means give up: the row becomes 'failed'. */
  markAttemptFailed(id: string, httpStatus: number | null, error: string, nextAttemptIso: string | null): void {
    this.db
      .prepare(
        `UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = @httpStatus, last_error = @error,
           status = CASE WHEN @next IS NULL THEN 'failed' ELSE 'pending' END,
           next_attempt_at = COALESCE(@next, next_attempt_at)
         WHERE id = @id AND status = 'pending'`,
      )
      .run({ id, httpStatus, error, next: nextAttemptIso });
  }

  /** Pending deliveries and the creation time of the oldest (the outbox's backlog, for metrics). */
  backlog(): { pending: number; oldestCreatedAt: string | null } {
    const row = this.db
      .prepare("SELECT count(*) AS pending, min(created_at) AS oldest FROM webhook_deliveries WHERE status = 'pending'")
      .get() as { pending: number; oldest: string | null };
    return { pending: row.pending, oldestCreatedAt: row.oldest };
  }

  list(filter: { merchantId?: string; status?: DeliveryStatus; limit: number }): DeliveryInfo[] {
    return this.db
      .prepare(
        `SELECT d.id, e.id AS eventId, e.type AS eventType, d.merchant_id AS merchantId, d.url, d.status, d.attempts,
                d.next_attempt_at AS nextAttemptAt, d.give_up_at AS giveUpAt, d.last_status AS lastStatus,
                d.last_error AS lastError, d.created_at AS createdAt, d.delivered_at AS deliveredAt
         FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq
         WHERE (@merchantId IS NULL OR d.merchant_id = @merchantId) AND (@status IS NULL OR d.status = @status)
         ORDER BY d.created_at DESC, d.id DESC LIMIT @limit`,
      )
      .all({ merchantId: filter.merchantId ?? null, status: filter.status ?? null, limit: filter.limit }) as DeliveryInfo[];
  }

  /** Events of one merchant to replay, oldest first; `limit + 1` rows tell the caller whether more match. */
  eventsToReplay(merchantId: string, opts: { since?: string; type?: string; limit: number }): Array<{ seq: number; id: string; createdAt: string }> {
    return this.db
      .prepare(
        `SELECT seq, id, created_at AS createdAt FROM events
         WHERE merchant_id = @merchantId AND (@since IS NULL OR created_at >= @since) AND (@type IS NULL OR type = @type)
         ORDER BY seq LIMIT @limit`,
      )
      .all({ merchantId, since: opts.since ?? null, type: opts.type ?? null, limit: opts.limit }) as Array<{ seq: number; id: string; createdAt: string }>;
  }
}
