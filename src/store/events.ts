import type { Db } from './db.js';
import type { Clock } from '../domain/clock.js';
import type { EventType, MerchantEvent } from '../domain/event.js';
import { newId } from '../domain/ids.js';
import { eventOf, type EventRow } from './rows.js';

/**
 * Merchant-visible events and the webhook outbox. `append` must be called inside the transaction
 * that makes the state change it reports, so an event exists exactly when its change does.
 */
export class EventRepository {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly retryForHours: number,
  ) {}

  append(merchantId: string, type: EventType, paymentId: string | null, data: Record<string, unknown>): MerchantEvent {
    const now = this.clock();
    const id = newId('evt');
    const { lastInsertRowid } = this.db
      .prepare('INSERT INTO events (id, merchant_id, type, payment_id, data, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(id, merchantId, type, paymentId, JSON.stringify(data), now.toISOString());
    const seq = Number(lastInsertRowid);
    const url = this.db.prepare('SELECT webhook_url FROM merchants WHERE id = ?').pluck().get(merchantId) as string | null;
    if (url) this.enqueueDelivery(seq, merchantId, url, now);
    return { seq, id, merchantId, type, paymentId, data, createdAt: now.toISOString() };
  }

  /** A new delivery of an existing event (used by `webhook replay`). */
  enqueueDelivery(seq: number, merchantId: string, url: string, now = this.clock()): string {
    const id = newId('whd');
    const giveUpAt = new Date(now.getTime() + this.retryForHours * 3_600_000).toISOString();
    this.db
      .prepare(
        `INSERT INTO webhook_deliveries (id, event_seq, merchant_id, url, status, attempts, next_attempt_at, give_up_at, created_at)
         VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
      )
      .run(id, seq, merchantId, url, now.toISOString(), giveUpAt, now.toISOString());
    return id;
  }

  /** Keyset pagination by sequence number: `after` is the last seq the merchant has seen. */
  list(merchantId: string, opts: { after?: number; limit: number; type?: EventType; paymentId?: string }): MerchantEvent[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM events WHERE merchant_id = @merchantId AND seq > @after
           AND (@type IS NULL OR type = @type) AND (@paymentId IS NULL OR payment_id = @paymentId)
         ORDER BY seq LIMIT @limit`,
      )
      .all({ merchantId, after: opts.after ?? 0, limit: opts.limit, type: opts.type ?? null, paymentId: opts.paymentId ?? null }) as EventRow[];
    return rows.map(eventOf);
  }

  get(id: string): MerchantEvent | undefined {
    const row = this.db.prepare('SELECT * FROM events WHERE id = ?').get(id) as EventRow | undefined;
    return row && eventOf(row);
  }
}

