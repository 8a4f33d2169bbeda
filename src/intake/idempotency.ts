import { createHash } from 'node:crypto';
import type { Request } from 'express';

import { CallpayError } from '../domain/errors.js';

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
