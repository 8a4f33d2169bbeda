import type { PgQueryable } from './db.js';
import { execute, inUnit, queryOne, queryRows } from './db.js';
import type { PgRepoDeps } from './deps.js';
import { aad } from '../field-crypto.js';
import type { CallRecord } from '../../telephony/engine.js';
import type { CallAttempt, CallAttemptFilter } from '../../domain/call.js';
import { maskPhone } from '../../domain/phone.js';
import type { CallRecordRepository } from '../../payments/repositories.js';

/** A call_attempts row joined with its dial and consumer, as selected by list(). */
interface CallAttemptRow extends CallRecord {
  paymentId: string;
  merchantId: string;
  attempt: number;
  consumerId: string | null;
  phoneSealed: Buffer | null;
  /** Whether the dial's number (blind index) is the consumer's number now; null without a dial. */
  sameNumber: boolean | null;
}

const CDR_COLUMNS = `call_id AS "callId", started_at AS "startedAt", answered_at AS "answeredAt", ended_at AS "endedAt", outcome,
  sip_status AS "sipStatus", reason, digit_count AS "digitCount"`;

const LIST_SQL = `
  SELECT c.payment_id AS "paymentId", p.merchant_id AS "merchantId", c.attempt, c.call_id AS "callId", c.started_at AS "startedAt",
    c.answered_at AS "answeredAt", c.ended_at AS "endedAt", c.outcome, c.sip_status AS "sipStatus", c.reason,
    c.digit_count AS "digitCount", k.id AS "consumerId", k.phone_sealed AS "phoneSealed", d.number_index = k.phone_index AS "sameNumber"
  FROM call_attempts c
  JOIN payments p ON p.id = c.payment_id
  LEFT JOIN consumers k ON k.id = p.consumer_id
  LEFT JOIN dials d ON d.payment_id = c.payment_id AND d.attempt = c.attempt`;

/** Call records (CDRs) per payment attempt, and the wrong-PIN tally behind the lockout (mirrors src/store/calls.ts). */
export class PgCallRepository implements CallRecordRepository {
  constructor(
    private readonly q: PgQueryable,
    private readonly d: PgRepoDeps,
  ) {}

  /** One statement (an upsert): the node that placed the call writes its record as the call goes on. */
  async recordAttempt(paymentId: string, attempt: number, r: CallRecord): Promise<void> {
    await execute(
      this.q,
      `INSERT INTO call_attempts (payment_id, attempt, call_id, started_at, answered_at, ended_at, outcome, sip_status, reason, digit_count)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (payment_id, attempt) DO UPDATE SET answered_at = excluded.answered_at, ended_at = excluded.ended_at,
         outcome = excluded.outcome, sip_status = excluded.sip_status, reason = excluded.reason, digit_count = excluded.digit_count`,
      [paymentId, attempt, r.callId, r.startedAt, r.answeredAt, r.endedAt, r.outcome, r.sipStatus, r.reason, r.digitCount],
    );
  }

  async attempts(paymentId: string): Promise<Array<CallRecord & { attempt: number }>> {
    return queryRows<CallRecord & { attempt: number }>(
      this.q,
      `SELECT attempt, ${CDR_COLUMNS} FROM call_attempts WHERE payment_id = $1 ORDER BY attempt`,
      [paymentId],
    );
  }

  /**
   * The number is not kept with the CDR: the dial's blind index says whether it is still the
   * consumer's enrolled number, and only then is that number opened, masked, and shown. Two shapes
   * of one query rather than SQLite's ORDER BY CASE, so the newest-first page walks the primary key.
   */
  async list(filter: CallAttemptFilter): Promise<CallAttempt[]> {
    const rows = filter.paymentId !== undefined
      ? await queryRows<CallAttemptRow>(
          this.q,
          `${LIST_SQL} WHERE c.payment_id = $1 AND ($2::text IS NULL OR c.started_at >= $2) ORDER BY c.attempt LIMIT $3`,
          [filter.paymentId, filter.since ?? null, filter.limit],
        )
      : await queryRows<CallAttemptRow>(
          this.q,
          `${LIST_SQL} WHERE ($1::text IS NULL OR c.started_at >= $1) ORDER BY c.id DESC LIMIT $2`,
          [filter.since ?? null, filter.limit],
        );
    return rows.map(({ consumerId, phoneSealed, sameNumber, ...r }) => ({
      ...r,
      maskedNumber:
        sameNumber === true && consumerId !== null && phoneSealed !== null
          ? maskPhone(this.d.crypto.open(phoneSealed, aad('consumers', 'phone', consumerId)))
          : null,
    }));
  }

  /**
   * Records a wrong PIN and returns how many the consumer has keyed within the window. Row lock on
   * the consumer (FOR NO KEY UPDATE) around insert and count: without it two nodes recording at
   * once would each count without the other's uncommitted row, and a guesser spreading tries over
   * nodes could step past the lockout threshold unseen.
   */
  async recordPinFailure(consumerId: string, paymentId: string | null, windowMs: number): Promise<number> {
    const now = this.d.clock();
    return inUnit(this.q, async (db) => {
      await execute(db, 'SELECT 1 FROM consumers WHERE id = $1 FOR NO KEY UPDATE', [consumerId]);
      await execute(db, 'INSERT INTO pin_failures (consumer_id, payment_id, created_at) VALUES ($1, $2, $3)', [consumerId, paymentId, now.toISOString()]);
      const row = await queryOne<{ n: number }>(db, 'SELECT count(*) AS n FROM pin_failures WHERE consumer_id = $1 AND created_at > $2', [
        consumerId,
        new Date(now.getTime() - windowMs).toISOString(),
      ]);
      return row?.n ?? 0;
    });
  }

  /** A correct PIN starts the count afresh. */
  async clearPinFailures(consumerId: string): Promise<void> {
    await execute(this.q, 'DELETE FROM pin_failures WHERE consumer_id = $1', [consumerId]);
  }
}
