import type { Db } from './db.js';
import type { CallRecord } from '../telephony/engine.js';
import type { Clock } from '../domain/clock.js';

/** Call records (CDRs) per payment attempt, and the wrong-PIN tally behind the lockout. */
export class CallRepository {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
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

  /** Records a wrong PIN and returns how many the consumer has keyed within the window. */
  recordPinFailure(consumerId: string, paymentId: string, windowMs: number): number {
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
