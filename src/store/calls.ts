import type { Db } from './db.js';
import { aad, type FieldCrypto } from './field-crypto.js';
import type { CallRecord } from '../telephony/engine.js';
import type { CallAttempt, CallAttemptFilter } from '../domain/call.js';
import type { Clock } from '../domain/clock.js';
import { maskPhone } from '../domain/phone.js';

/** A call_attempts row joined with its dial and consumer, as selected by list(). */
interface CallAttemptRow extends CallRecord {
  paymentId: string;
  merchantId: string;
  attempt: number;
  consumerId: string | null;
  phoneSealed: Buffer | null;
  /** 1 when the dial's number (blind index) is the consumer's number now. */
  sameNumber: number | null;
}

/** Call records (CDRs) per payment attempt, and the wrong-PIN tally behind the lockout. */
export class CallRepository {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly crypto: FieldCrypto,
  ) {}

  recordAttempt(paymentId: string, attempt: number, r: CallRecord): void {
    this.db
      .prepare(
        `INSERT INTO call_attempts (payment_id, attempt, call_id, started_at, answered_at, ended_at, outcome, sip_status, reason, digit_count)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (payment_id, attempt) DO UPDATE SET answered_at = excluded.answered_at, ended_at = excluded.ended_at,
           outcome = excluded.outcome, sip_status = excluded.sip_status, reason = excluded.reason, digit_count = excluded.digit_count`,
      )
      .run(paymentId, attempt, r.callId, r.startedAt, r.answeredAt, r.endedAt, r.outcome, r.sipStatus, r.reason, r.digitCount);
  }

  attempts(paymentId: string): Array<CallRecord & { attempt: number }> {
    return this.db
      .prepare(
        `SELECT attempt, call_id AS callId, started_at AS startedAt, answered_at AS answeredAt, ended_at AS endedAt, outcome,
           sip_status AS sipStatus, reason, digit_count AS digitCount FROM call_attempts WHERE payment_id = ? ORDER BY attempt`,
      )
      .all(paymentId) as Array<CallRecord & { attempt: number }>;
  }

  /**
   * The number is not kept with the CDR: the dial's blind index says whether it is still the
   * consumer's enrolled number, and only then is that number opened, masked, and shown.
   */
  list(filter: CallAttemptFilter): CallAttempt[] {
    const select = `SELECT c.payment_id AS paymentId, p.merchant_id AS merchantId, c.attempt, c.call_id AS callId, c.started_at AS startedAt,
           c.answered_at AS answeredAt, c.ended_at AS endedAt, c.outcome, c.sip_status AS sipStatus, c.reason,
           c.digit_count AS digitCount, k.id AS consumerId, k.phone_sealed AS phoneSealed, d.number_index = k.phone_index AS sameNumber
         FROM call_attempts c
         JOIN payments p ON p.id = c.payment_id
         LEFT JOIN consumers k ON k.id = p.consumer_id
         LEFT JOIN dials d ON d.payment_id = c.payment_id AND d.attempt = c.attempt`;
    // Two statements, not one with "(@paymentId IS NULL OR ...)": SQLite plans before it sees the
    // values, and that form scans every call ever made to answer for one payment.
    const since = filter.since ?? null;
    const rows = (
      filter.paymentId === undefined
        ? this.db.prepare(`${select} WHERE (@since IS NULL OR c.started_at >= @since) ORDER BY c.id DESC LIMIT @limit`).all({ since, limit: filter.limit })
        : this.db
            .prepare(`${select} WHERE c.payment_id = @paymentId AND (@since IS NULL OR c.started_at >= @since) ORDER BY c.attempt LIMIT @limit`)
            .all({ paymentId: filter.paymentId, since, limit: filter.limit })
    ) as CallAttemptRow[];
    return rows.map(({ consumerId, phoneSealed, sameNumber, ...r }) => ({
      ...r,
      maskedNumber:
        sameNumber === 1 && consumerId !== null && phoneSealed !== null
          ? maskPhone(this.crypto.open(phoneSealed, aad('consumers', 'phone', consumerId)))
          : null,
    }));
  }

  /** Records a wrong PIN and returns how many the consumer has keyed within the window. */
  recordPinFailure(consumerId: string, paymentId: string | null, windowMs: number): number {
    const now = this.clock();
    return this.db.transaction(() => {
      this.db.prepare('INSERT INTO pin_failures (consumer_id, payment_id, created_at) VALUES (?, ?, ?)').run(consumerId, paymentId, now.toISOString());
      return this.db
        .prepare('SELECT count(*) FROM pin_failures WHERE consumer_id = ? AND created_at > ?')
        .pluck()
        .get(consumerId, new Date(now.getTime() - windowMs).toISOString()) as number;
    }).immediate();
  }

  /** A correct PIN starts the count afresh. */
  clearPinFailures(consumerId: string): void {
    this.db.prepare('DELETE FROM pin_failures WHERE consumer_id = ?').run(consumerId);
  }
}
