import type { PgQueryable } from './db.js';
import { execute, inUnit, queryOne, queryRows } from './db.js';
import type { PgRepoDeps } from './deps.js';
import type { EventType, MerchantEvent } from '../../domain/event.js';
import { newId } from '../../domain/ids.js';
import type { EventRepository } from '../../payments/repositories.js';
import { eventOf, type EventRow } from '../rows.js';

/** Advisory lock class (two-int form) of one merchant's event stream; see `append`. */
const STREAM_LOCK = 0x65767431; // "evt1"

const INSERT_DELIVERY = `INSERT INTO webhook_deliveries (id, event_seq, merchant_id, url, status, attempts, next_attempt_at, give_up_at, created_at)`;

/**
 * Merchant events and the webhook outbox, as src/store/events.ts: `append` is called inside the
 * transaction of the change it reports, so an event exists exactly when its change does.
 */
export class PgEventRepository implements EventRepository {
  constructor(private readonly q: PgQueryable, private readonly d: PgRepoDeps) {}

  /**
   * Merchants page through their events by `seq` (`after` = the last one seen). An identity hands
   * out numbers when rows are inserted, not when they commit: with several writers, seq 11 could
   * become visible before seq 10, a reader would move its cursor past 10 and never see it. So an
   * append first takes a transaction-scoped advisory lock on the merchant's stream, held until
   * commit: one merchant's events commit in seq order (other merchants' appends do not wait). Its
   * cost: a merchant's transactions queue from their event to their commit, which is their end.
   * The event and its delivery (if the merchant has a webhook URL) are one statement.
   */
  async append(merchantId: string, type: EventType, paymentId: string | null, data: Record<string, unknown>): Promise<MerchantEvent> {
    const now = this.d.clock();
    const id = newId('evt');
    const seq = await inUnit(this.q, async (db) => {
      await execute(db, 'SELECT pg_advisory_xact_lock($1, hashtext($2))', [STREAM_LOCK, merchantId]);
      const row = await queryOne<{ seq: number }>(
        db,
        `WITH e AS (
           INSERT INTO events (id, merchant_id, type, payment_id, data, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq, merchant_id),
         d AS (
           ${INSERT_DELIVERY}
           SELECT $7, e.seq, e.merchant_id, m.webhook_url, 'pending', 0, $6, $8, $6
           FROM e JOIN merchants m ON m.id = e.merchant_id WHERE m.webhook_url IS NOT NULL AND m.webhook_url <> '')
         SELECT seq FROM e`,
        [id, merchantId, type, paymentId, JSON.stringify(data), now.toISOString(), newId('whd'), this.giveUpAt(now)],
      );
      return row!.seq;
    });
    return { seq, id, merchantId, type, paymentId, data, createdAt: now.toISOString() };
  }

  /** A new delivery of an existing event (`webhook replay`). */
  async enqueueDelivery(seq: number, merchantId: string, url: string): Promise<string> {
    const now = this.d.clock();
    const id = newId('whd');
    await execute(this.q, `${INSERT_DELIVERY} VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $5)`, [id, seq, merchantId, url, now.toISOString(), this.giveUpAt(now)]);
    return id;
  }

  async list(merchantId: string, opts: { after?: number; limit: number; type?: EventType; paymentId?: string }): Promise<MerchantEvent[]> {
    const rows = await queryRows<EventRow>(
      this.q,
      `SELECT * FROM events WHERE merchant_id = $1 AND seq > $2
         AND ($3::text IS NULL OR type = $3) AND ($4::text IS NULL OR payment_id = $4)
       ORDER BY seq LIMIT $5`,
      [merchantId, opts.after ?? 0, opts.type ?? null, opts.paymentId ?? null, opts.limit],
    );
    return rows.map(eventOf);
  }

  async get(id: string): Promise<MerchantEvent | undefined> {
    const row = await queryOne<EventRow>(this.q, 'SELECT * FROM events WHERE id = $1', [id]);
    return row && eventOf(row);
  }

  private giveUpAt(now: Date): string {
    return new Date(now.getTime() + this.d.webhookRetryForHours * 3_600_000).toISOString();
  }
}

