import { createHash } from 'node:crypto';

import { CallpayError } from '../domain/errors.js';

/** The Idempotency-Key header: required, 1-255 visible ASCII characters. */
export function idempotencyKey(header: string | undefined): string {
  if (header === undefined) throw new CallpayError('idempotency_key_missing', 'Idempotency-Key: header required on this request', 'Idempotency-Key');
  if (!/^[\x21-\x7e]{1,255}$/.test(header)) throw new CallpayError('invalid_field', 'Idempotency-Key: expected 1 to 255 visible ASCII characters', 'Idempotency-Key');
  return header;
}

/**
 * Same request = same method, path within /v1 ("/payments") and JSON body (key order aside). The
 * express routes and the lean create path hash alike, so a retry is a replay whichever path takes it.
 */
export function requestHash(method: string, path: string, body: unknown): Buffer {
  return createHash('sha256').update(`${method} ${path}\n${canonical(body)}`).digest();
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
