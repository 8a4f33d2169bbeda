import type { Db } from './db.js';
import type { Clock } from '../domain/clock.js';
import { CallpayError } from '../domain/errors.js';
import type { StoredResponse } from '../payments/repositories.js';

/**
 * Looks a key up and records a response, always inside the caller's transaction so that the
 * payment and its idempotency record are written together or not at all.
 */
export class IdempotencyRepository {
  constructor(private readonly db: Db, private readonly clock: Clock) {}

  /** The stored response for a replay, or throws idempotency_conflict for a different request. */
  lookup(merchantId: string, key: string, hash: Buffer): StoredResponse | undefined {
    const row = this.db
      .prepare('SELECT request_hash, status_code, response FROM idempotency_keys WHERE merchant_id = ? AND key = ?')
      .get(merchantId, key) as { request_hash: Buffer; status_code: number; response: string } | undefined;
    if (!row) return undefined;
    if (!row.request_hash.equals(hash)) {
      throw new CallpayError('idempotency_conflict', 'Idempotency-Key: already used with a different request', 'Idempotency-Key');
    }
    return { status: row.status_code, body: JSON.parse(row.response) as unknown };
  }

  save(merchantId: string, key: string, hash: Buffer, response: StoredResponse): void {
    this.db
      .prepare('INSERT INTO idempotency_keys (merchant_id, key, request_hash, status_code, response, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(merchantId, key, hash, response.status, JSON.stringify(response.body), this.clock().toISOString());
  }

  /** Drops keys recorded before `cutoff` (their retention is over); returns how many. */
  prune(cutoff: Date): number {
    return this.db.prepare('DELETE FROM idempotency_keys WHERE created_at < ?').run(cutoff.toISOString()).changes;
  }
}
