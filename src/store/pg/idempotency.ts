import type { PgQueryable } from './db.js';
import { execute, queryOne, sqlState } from './db.js';
import type { PgRepoDeps } from './deps.js';
import { CallpayError } from '../../domain/errors.js';
import type { IdempotencyRepository, StoredResponse } from '../../payments/repositories.js';

/** Advisory lock class (two-int form) of one merchant's Idempotency-Key; see `lookup`. */
const KEY_LOCK = 0x69646d31; // "idm1"

/**
 * Merchant requests by Idempotency-Key, as src/store/idempotency.ts: `lookup` and `save` are called
 * in the transaction that makes the change, so a payment and its record commit together or not at all.
 *
 * Two nodes receiving the same key at once: SQLite's single writer ran the two transactions one after
 * the other, so the second's lookup found the first's record. Here `lookup` first takes a
 * transaction-scoped advisory lock on (merchant, key), held until the transaction ends, then reads.
 * The second request waits at that lock until the first commits; its read, a new statement under
 * READ COMMITTED, then sees the first's record and replays it. One payment, no error. (If the first
 * rolls back, the second proceeds and creates the payment itself.)
 */
export class PgIdempotencyRepository implements IdempotencyRepository {
  constructor(private readonly q: PgQueryable, private readonly d: PgRepoDeps) {}

  async lookup(merchantId: string, key: string, hash: Buffer): Promise<StoredResponse | undefined> {
    // Two statements on purpose: a read in the locking statement would use a snapshot from before the wait.
    await execute(this.q, 'SELECT pg_advisory_xact_lock($1, hashtext($2 || chr(10) || $3))', [KEY_LOCK, merchantId, key]);
    const row = await queryOne<{ request_hash: Buffer; status_code: number; response: string }>(
      this.q,
      'SELECT request_hash, status_code, response FROM idempotency_keys WHERE merchant_id = $1 AND key = $2',
      [merchantId, key],
    );
    if (!row) return undefined;
    if (!row.request_hash.equals(hash)) {
      throw new CallpayError('idempotency_conflict', 'Idempotency-Key: already used with a different request', 'Idempotency-Key');
    }
    return { status: row.status_code, body: JSON.parse(row.response) as unknown };
  }

  /**
   * A unique violation here means a concurrent request with the same key committed first, which the
   * lock in `lookup` rules out for callers that looked up in the same transaction. For one that did
   * not, it surfaces as `idempotency_conflict` (HTTP 409). No savepoint (two more round trips on every
   * payment): the failed INSERT has aborted the caller's transaction, which must roll back anyway (its
   * payment must not commit); running the request again then replays the stored response.
   */
  async save(merchantId: string, key: string, hash: Buffer, response: StoredResponse): Promise<void> {
    try {
      await execute(
        this.q,
        'INSERT INTO idempotency_keys (merchant_id, key, request_hash, status_code, response, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [merchantId, key, hash, response.status, JSON.stringify(response.body), this.d.clock().toISOString()],
      );
    } catch (e) {
      if (sqlState(e) === '23505') {
        throw new CallpayError('idempotency_conflict', 'Idempotency-Key: a concurrent request with this key was recorded first; retry it', 'Idempotency-Key');
      }
      throw e;
    }
  }

  async prune(cutoff: Date): Promise<number> {
    return execute(this.q, 'DELETE FROM idempotency_keys WHERE created_at < $1', [cutoff.toISOString()]);
  }
}
