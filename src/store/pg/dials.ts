import type { PgQueryable, PgValue } from './db.js';
import { execute, placeholders, queryOne } from './db.js';
import type { PgRepoDeps } from './deps.js';
import type { AttemptLimitRepository, DialRepository } from '../../payments/repositories.js';

/** Dial attempts for the toll-fraud caps; the number is kept only as its blind index (mirrors src/store/dials.ts). */
export class PgDialRepository implements DialRepository {
  constructor(
    private readonly q: PgQueryable,
    private readonly d: PgRepoDeps,
  ) {}

  /** One INSERT; UNIQUE (payment_id, attempt) refuses a second record of the same dial, as in SQLite. */
  async record(d: { paymentId: string; attempt: number; consumerId: string; merchantId: string; number: string }): Promise<void> {
    await execute(
      this.q,
      'INSERT INTO dials (payment_id, attempt, consumer_id, merchant_id, number_index, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [d.paymentId, d.attempt, d.consumerId, d.merchantId, this.d.crypto.blindIndex('phone', d.number), this.d.clock().toISOString()],
    );
  }

  /**
   * Dials since `since` to a consumer, for a merchant, or to a number (E.164). Inside a transaction it
   * first takes a transaction-scoped advisory lock on what it counts: the caps are checked and the dial
   * recorded in one transaction (src/payments/call-steps.ts), and without the lock two nodes could both
   * count 3 under a cap of 4 and both dial. Every caller counts consumer, number, merchant in that
   * order, so the locks are always taken in one order. Outside a transaction the lock ends at once.
   */
  async countSince(by: { consumerId: string } | { merchantId: string } | { number: string }, since: Date): Promise<number> {
    const lockKey =
      'consumerId' in by ? `dials:consumer:${by.consumerId}` : 'merchantId' in by ? `dials:merchant:${by.merchantId}` : `dials:number:${this.d.crypto.blindIndex('phone', by.number).toString('hex')}`;
    await execute(this.q, 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey]);
    // A number's dials made before a key rotation are indexed under the previous key: count both.
    const [where, values]: [string, PgValue[]] =
      'consumerId' in by
        ? ['consumer_id = $1', [by.consumerId]]
        : 'merchantId' in by
          ? ['merchant_id = $1', [by.merchantId]]
          : ((indexes) => [`number_index IN (${placeholders(1, indexes.length)})`, indexes])(this.d.crypto.blindIndexes('phone', by.number));
    const row = await queryOne<{ n: number }>(this.q, `SELECT count(*) AS n FROM dials WHERE ${where} AND created_at > $${values.length + 1}`, [
      ...values,
      since.toISOString(),
    ]);
    return row?.n ?? 0;
  }
}

/**
 * Sliding-window attempt counts (the checkout's login, password and payment-QR limits), persistent
 * so a restart forgives nothing, and shared by every node since they count in the one database. Keys
 * are stored as keyed hashes (mirrors src/store/dials.ts).
 */
export class PgAttemptLimitRepository implements AttemptLimitRepository {
  constructor(
    private readonly q: PgQueryable,
    private readonly d: PgRepoDeps,
  ) {}

  /** Attempts of `key` in `scope` within the last `windowMs`. */
  async count(scope: string, key: string, windowMs: number): Promise<number> {
    const hashes = this.hashes(scope, key);
    const row = await queryOne<{ n: number }>(
      this.q,
      `SELECT count(*) AS n FROM attempt_limits WHERE scope = $1 AND ${this.keyIn(hashes)} AND created_at > $${hashes.length + 2}`,
      [scope, ...hashes, this.since(windowMs)],
    );
    return row?.n ?? 0;
  }

  /** The oldest attempt still in the window, for Retry-After; null when there is none. */
  async oldest(scope: string, key: string, windowMs: number): Promise<string | null> {
    const hashes = this.hashes(scope, key);
    const row = await queryOne<{ oldest: string | null }>(
      this.q,
      `SELECT min(created_at) AS oldest FROM attempt_limits WHERE scope = $1 AND ${this.keyIn(hashes)} AND created_at > $${hashes.length + 2}`,
      [scope, ...hashes, this.since(windowMs)],
    );
    return row?.oldest ?? null;
  }

  async add(scope: string, key: string): Promise<void> {
    await execute(this.q, 'INSERT INTO attempt_limits (scope, key_hash, created_at) VALUES ($1, $2, $3)', [
      scope,
      this.d.crypto.blindIndex(`limit:${scope}`, key),
      this.d.clock().toISOString(),
    ]);
  }

  /**
   * Gives back the newest attempt (it was a success that should not count). FOR UPDATE SKIP LOCKED:
   * two nodes refunding the same key at once each take a different row, instead of both aiming at the
   * newest and one of them deleting nothing.
   */
  async refund(scope: string, key: string): Promise<void> {
    const hashes = this.hashes(scope, key);
    await execute(
      this.q,
      `DELETE FROM attempt_limits WHERE id = (
         SELECT id FROM attempt_limits WHERE scope = $1 AND ${this.keyIn(hashes)} ORDER BY id DESC LIMIT 1 FOR UPDATE SKIP LOCKED)`,
      [scope, ...hashes],
    );
  }

  async clear(scope: string, key: string): Promise<void> {
    const hashes = this.hashes(scope, key);
    await execute(this.q, `DELETE FROM attempt_limits WHERE scope = $1 AND ${this.keyIn(hashes)}`, [scope, ...hashes]);
  }

  /** Drops attempts older than any window can look back; returns how many. */
  async prune(before: Date): Promise<number> {
    return execute(this.q, 'DELETE FROM attempt_limits WHERE created_at < $1', [before.toISOString()]);
  }

  /**
   * Counters have no plaintext to re-key, so a key rotation leaves them: while the previous key is
   * held they keep counting under it, and they age out within the longest window.
   */
  private hashes(scope: string, key: string): Buffer[] {
    return this.d.crypto.blindIndexes(`limit:${scope}`, key);
  }

  /** The hashes are bound from $2 on ($1 is the scope). */
  private keyIn(hashes: readonly Buffer[]): string {
    return `key_hash IN (${placeholders(2, hashes.length)})`;
  }

  private since(windowMs: number): string {
    return new Date(this.d.clock().getTime() - windowMs).toISOString();
  }
}
