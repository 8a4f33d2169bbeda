/**
 * The one error type of callpay. Codes are a closed set: callers (the HTTP mapper, the CLI, tests)
 * switch on `code`, never on message text. Expected business outcomes (declined, wrong PIN) are
 * values elsewhere; a CallpayError means the request itself cannot be carried out.
 */
export const ERROR_CODES = [
  'invalid_field',
  'not_found',
  'already_exists',
  'invalid_state',
  'config_invalid',
  'key_missing',
  'key_insecure',
  'key_invalid',
  'secret_input',
  // backup and restore
  'backup_invalid',
  'backup_too_new',
  'database_in_use',
  // HTTP intake
  'malformed_json',
  'unsupported_media_type',
  'payload_too_large',
  'unauthorized',
  'merchant_disabled',
  'rate_limited',
  'idempotency_key_missing',
  'idempotency_conflict',
  // business refusals (422)
  'amount_too_large',
  'unknown_consumer',
  'refund_exceeds_charge',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class CallpayError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'CallpayError';
    this.code = code;
    this.field = field;
  }
}

export function invalidField(field: string, message: string): CallpayError {
  return new CallpayError('invalid_field', `${field}: ${message}`, field);
}

export function isCallpayError(e: unknown): e is CallpayError {
  return e instanceof CallpayError;
}
