import type { Db } from './db.js';
import { indexIn, type FieldCrypto } from './field-crypto.js';
import type { Clock } from '../domain/clock.js';

/** Dial attempts for the toll-fraud caps; the number is kept only as its blind index. */
export class DialRepository {
  constructor(
    private readonly db: Db,
    private readonly crypto: FieldCrypto,
    private readonly clock: Clock,
  ) {}

  record(d: { paymentId: string; attempt: number; consumerId: string; merchantId: string; number: string }): void {
    this.db
      .prepare('INSERT INTO dials (payment_id, attempt, consumer_id, merchant_id, number_index, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(d.paymentId, d.attempt, d.consumerId, d.merchantId, this.crypto.blindIndex('phone', d.number), this.clock().toISOString());
  }

  /** Dials since `since` to a consumer, for a merchant, or to a number (E.164). */
  countSince(by: { consumerId: string } | { merchantId: string } | { number: string }, since: Date): number {
    // A number's dials made before a key rotation are indexed under the previous key: count both.
    const [where, values]: [string, unknown[]] =
      'consumerId' in by
        ? ['consumer_id = ?', [by.consumerId]]
        : 'merchantId' in by
          ? ['merchant_id = ?', [by.merchantId]]
          : [indexIn('number_index', this.crypto.blindIndexes('phone', by.number)), this.crypto.blindIndexes('phone', by.number)];
    return this.db.prepare(`SELECT count(*) FROM dials WHERE ${where} AND created_at > ?`).pluck().get(...values, since.toISOString()) as number;
  }
}

/**
 * Sliding-window attempt counts (the checkout's login, password and payment-QR limits), persistent
 * so a restart forgives nothing. Keys are stored as keyed hashes.
 */
export class AttemptLimitRepository {
  constructor(
    private readonly db: Db,
    private readonly crypto: FieldCrypto,
    private readonly clock: Clock,
  ) {}

  /** Attempts of `key` in `scope` within the last `windowMs`. */
  count(scope: string, key: string, windowMs: number): number {
    return this.db
      .prepare(`SELECT count(*) FROM attempt_limits WHERE scope = ? AND ${this.keyIn(scope, key)} AND created_at > ?`)
      .pluck()
      .get(scope, ...this.hashes(scope, key), this.since(windowMs)) as number;
  }

  /** The oldest attempt still in the window, for Retry-After; null when there is none. */
  oldest(scope: string, key: string, windowMs: number): string | null {
    return (this.db
      .prepare(`SELECT min(created_at) FROM attempt_limits WHERE scope = ? AND ${this.keyIn(scope, key)} AND created_at > ?`)
      .pluck()
      .get(scope, ...this.hashes(scope, key), this.since(windowMs)) as string | null) ?? null;
  }

  add(scope: string, key: string): void {
    this.db.prepare('INSERT INTO attempt_limits (scope, key_hash, created_at) VALUES (?, ?, ?)').run(scope, this.hash(scope, key), this.clock().toISOString());
  }

  /** Gives back the newest attempt (it was a success that should not count). */
  refund(scope: string, key: string): void {
    this.db
      .prepare(`DELETE FROM attempt_limits WHERE id = (SELECT max(id) FROM attempt_limits WHERE scope = ? AND ${this.keyIn(scope, key)})`)
      .run(scope, ...this.hashes(scope, key));
  }

  clear(scope: string, key: string): void {
    this.db.prepare(`DELETE FROM attempt_limits WHERE scope = ? AND ${this.keyIn(scope, key)}`).run(scope, ...this.hashes(scope, key));
  }

  /** Drops attempts older than any window can look back; returns how many. */
  prune(before: Date): number {
    return this.db.prepare('DELETE FROM attempt_limits WHERE created_at < ?').run(before.toISOString()).changes;
  }

  private hash(scope: string, key: string): Buffer {
    return this.crypto.blindIndex(`limit:${scope}`, key);
  }

  /**
   * Counters have no plaintext to re-key, so a key rotation leaves them: while the previous key is
   * held they keep counting under it, and they age out within the longest window.
   */
  private hashes(scope: string, key: string): Buffer[] {
    return this.crypto.blindIndexes(`limit:${scope}`, key);
  }

  private keyIn(scope: string, key: string): string {
    return indexIn('key_hash', this.hashes(scope, key));
  }

  private since(windowMs: number): string {
    return new Date(this.clock().getTime() - windowMs).toISOString();
  }
}
