import type { QueryResultRow } from 'pg';

import type { PgQueryable } from './db.js';
import { execute, queryOne, queryRows } from './db.js';
import type { DeliveryInfo, DeliveryStatus, DueDelivery } from '../../domain/event.js';
import type { DeliveryRepository } from '../../payments/repositories.js';

type Replayable = { seq: number; id: string; createdAt: string };

/**
 * The webhook outbox, as src/store/deliveries.ts. Every write is one conditional UPDATE on
 * `status = 'pending'` (and, for a claim, on the due time read): under READ COMMITTED a second
 * writer of the same row waits for the first, then re-checks the condition against the row the first
 * committed and matches nothing. So an outcome is written once and a row is claimed by one node.
 */
export class PgDeliveryRepository implements DeliveryRepository {
  constructor(private readonly q: PgQueryable) {}

  async due(nowIso: string, limit: number): Promise<DueDelivery[]> {
    return queryRows<DueDelivery & QueryResultRow>(
      this.q,
      `SELECT d.id, d.merchant_id AS "merchantId", d.url, d.attempts, d.next_attempt_at AS "nextAttemptAt",
              d.give_up_at AS "giveUpAt", e.id AS "eventId", e.type AS "eventType", e.data AS "eventData",
              e.created_at AS "eventCreatedAt"
       FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq
       WHERE d.status = 'pending' AND d.next_attempt_at <= $1
       ORDER BY d.next_attempt_at, d.created_at, d.id LIMIT $2`,
      [nowIso, limit],
    );
  }

  /**
   * A lease: pushes next_attempt_at past the request's timeout, compare-and-set on the value read by
   * `due`. Of two nodes claiming one row, the second's UPDATE waits for the first's row lock and then
   * finds next_attempt_at changed: it claims nothing. A node that dies mid-request leaves the row
   * pending, due again when the lease runs out, for any node.
   */
  async claim(d: DueDelivery, leaseUntilIso: string): Promise<boolean> {
    const changed = await execute(
      this.q,
      `UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id = $2 AND status = 'pending' AND next_attempt_at = $3`,
      [leaseUntilIso, d.id, d.nextAttemptAt],
    );
    return changed === 1;
  }

  async markDelivered(id: string, httpStatus: number, nowIso: string): Promise<void> {
    await execute(
      this.q,
      `UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_status = $1, last_error = NULL,
         delivered_at = $2 WHERE id = $3 AND status = 'pending'`,
      [httpStatus, nowIso, id],
    );
  }

  async markAttemptFailed(id: string, httpStatus: number | null, error: string, nextAttemptIso: string | null): Promise<void> {
    await execute(
      this.q,
      `UPDATE webhook_deliveries SET attempts = attempts + 1, last_status = $2, last_error = $3,
         status = CASE WHEN $4::text IS NULL THEN 'failed' ELSE 'pending' END,
         next_attempt_at = COALESCE($4, next_attempt_at)
       WHERE id = $1 AND status = 'pending'`,
      [id, httpStatus, error, nextAttemptIso],
    );
  }

  async backlog(): Promise<{ pending: number; oldestCreatedAt: string | null }> {
    const row = await queryOne<{ pending: number; oldest: string | null }>(
      this.q,
      "SELECT count(*) AS pending, min(created_at) AS oldest FROM webhook_deliveries WHERE status = 'pending'",
    );
    return { pending: row!.pending, oldestCreatedAt: row!.oldest };
  }

  async list(filter: { merchantId?: string; status?: DeliveryStatus; limit: number }): Promise<DeliveryInfo[]> {
    return queryRows<DeliveryInfo & QueryResultRow>(
      this.q,
      `SELECT d.id, e.id AS "eventId", e.type AS "eventType", d.merchant_id AS "merchantId", d.url, d.status, d.attempts,
              d.next_attempt_at AS "nextAttemptAt", d.give_up_at AS "giveUpAt", d.last_status AS "lastStatus",
              d.last_error AS "lastError", d.created_at AS "createdAt", d.delivered_at AS "deliveredAt"
       FROM webhook_deliveries d JOIN events e ON e.seq = d.event_seq
       WHERE ($1::text IS NULL OR d.merchant_id = $1) AND ($2::text IS NULL OR d.status = $2)
       ORDER BY d.created_at DESC, d.id DESC LIMIT $3`,
      [filter.merchantId ?? null, filter.status ?? null, filter.limit],
    );
  }

  /** Oldest first; `limit + 1` rows tell the caller whether more match. */
  async eventsToReplay(merchantId: string, opts: { since?: string; type?: string; limit: number }): Promise<Replayable[]> {
    return queryRows<Replayable>(
      this.q,
      `SELECT seq, id, created_at AS "createdAt" FROM events
       WHERE merchant_id = $1 AND ($2::text IS NULL OR created_at >= $2) AND ($3::text IS NULL OR type = $3)
       ORDER BY seq LIMIT $4`,
      [merchantId, opts.since ?? null, opts.type ?? null, opts.limit],
    );
  }
}
