/**
 * The one error type of callpay. Codes are a closed set: callers (the HTTP mapper, the CLI, tests)
 * switch on `code`, never on message text. Expected business outcomes (declined, wrong PIN) are
 * values elsewhere; a CallpayError means the request itself cannot be carried out.
 */

/** `prompts import`'s refusals (the CLI only): it prints them as its own, `prompts import: … [code]`. */
export const PACK_IMPORT_ERROR_CODES = [
  /** --from is neither asterisk[:DIR] nor freeswitch:DIR. */
  'sound_set_unknown',
  /** The sound set's directory does not exist (the package is not installed?). */
  'sound_set_missing',
  /** The set has no mapping for this locale, or none of the mapped files exist. */
  'sound_set_empty',
  /** Neither --out nor ivr.promptsDir: the import never writes into callpay's own prompts/. */
  'prompts_dir_unset',
  /** The pack the import starts from (the output's or the shipped one) cannot be read. */
  'base_pack_invalid',
  /** sox is not installed and a file needs converting. */
  'tool_missing',
  /** sox failed on a file. */
  'conversion_failed',
  /** The built pack fails `prompts check`; nothing was installed. */
  'pack_check_failed',
] as const;

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
  ...PACK_IMPORT_ERROR_CODES,
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
