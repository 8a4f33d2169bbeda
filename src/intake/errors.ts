import type { ErrorRequestHandler } from 'express';
import { RateLimited } from './auth.js';
import type { Logger } from '../log.js';
import { CallpayError, isCallpayError, type ErrorCode } from '../domain/errors.js';
import { replaceRefused } from '../domain/text.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  invalid_field: 400,
  malformed_json: 400,
  idempotency_key_missing: 400,
  unauthorized: 401,
  merchant_disabled: 403,
  not_found: 404,
  already_exists: 409,
  invalid_state: 409,
  idempotency_conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  amount_too_large: 422,
  unknown_consumer: 422,
  refund_exceeds_charge: 422,
  rate_limited: 429,
};

export function statusFor(e: CallpayError): number {
  return STATUS[e.code] ?? 500;
}

/** Messages may quote the request (an id from the path): refused characters never go back out. */
export function errorBody(e: CallpayError): { error: { code: string; message: string; field?: string } } {
  return { error: { code: e.code, message: replaceRefused(e.message), ...(e.field ? { field: replaceRefused(e.field) } : {}) } };
}

interface BodyParserError {
  type?: string;
}

/** What a failed request is answered, and the header a rate-limit refusal adds. */
export interface ErrorAnswer {
  status: number;
  body: unknown;
  retryAfterSeconds?: number;
}

/**
 * The one mapper from errors to HTTP, for express's routes and the lean create path alike. Known
 * errors keep their code and field; body-parser's become ours; anything else is a 500 whose detail
 * stays in the log, never in the response.
 */
export function errorAnswer(err: unknown, log: Logger, request: { method: string | undefined; path: string }): ErrorAnswer {
  const parserType = (err as BodyParserError | null)?.type;
  let e: CallpayError | undefined;
  if (isCallpayError(err)) e = err;
  else if (parserType === 'entity.too.large') e = new CallpayError('payload_too_large', 'body: larger than 16 KiB', 'body');
  else if (parserType === 'entity.parse.failed') e = new CallpayError('malformed_json', 'body: not valid JSON', 'body');
  else if (parserType === 'encoding.unsupported' || parserType === 'charset.unsupported') {
    e = new CallpayError('unsupported_media_type', 'body: unsupported encoding or charset', 'content-type');
  }
  if (!e || statusFor(e) === 500) {
    log.error({ err, ...request }, 'unhandled error in request');
    return { status: 500, body: { error: { code: 'internal', message: 'internal error' } } };
  }
  return { status: statusFor(e), body: errorBody(e), ...(e instanceof RateLimited ? { retryAfterSeconds: e.retryAfterSeconds } : {}) };
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const answer = errorAnswer(err, log, { method: req.method, path: req.path });
    if (answer.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(answer.retryAfterSeconds));
    res.status(answer.status).json(answer.body);
  };
}
