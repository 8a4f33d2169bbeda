import { createHash } from 'node:crypto';
import type { Request } from 'express';

import type { Db } from '../store/db.js';
import { CallpayError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';

export interface StoredResponse {
  status: number;
  body: unknown;
}

/** The Idempotency-Key header: required, 1-255 visible ASCII characters. */
export function idempotencyKey(req: Request): string {
  const key = req.get('idempotency-key');
  if (key === undefined) throw new CallpayError('idempotency_key_missing', 'Idempotency-Key: header required on this request', 'Idempotency-Key');
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) throw new CallpayError('invalid_field', 'Idempotency-Key: expected 1 to 255 visible ASCII characters', 'Idempotency-Key');
  return key;
}

/** Same request = same method, path and JSON body (key order aside). */
export function requestHash(req: Request): Buffer {
  return createHash('sha256').update(`${req.method} ${req.path}\n${canonical(req.body)}`).digest();
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Looks a key up and records a response, always inside the caller's transaction so that the
 * payment and its idempotency record are written together or not at all.
 */
export class IdempotencyStore {
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
}
