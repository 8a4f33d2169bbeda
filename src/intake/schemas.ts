import * as z from 'zod';
import { CallpayError } from '../domain/errors.js';
import { CURRENCY_EXPONENTS, MAX_MINOR_AMOUNT } from '../domain/money.js';
import { PAYMENT_STATUSES } from '../domain/payment.js';
import { normalizeLogin } from '../domain/consumer.js';
import { isAllowedText, textProblem } from '../domain/text.js';

/** Refuses what domain/text.ts refuses (control and text-direction characters), naming the character. */
function allowedText<T extends z.ZodString>(schema: T) {
  return schema.refine(isAllowedText, { error: (issue) => textProblem(String(issue.input)) ?? 'text not allowed' });
}

/** Printable text (no CR/LF smuggled into headers, logs or CSV; no bidi tricks on the page). */
function text(max: number, min = 1) {
  return allowedText(z.string().min(min).max(max));
}

/** Absolute http(s) URL without credentials or control characters: safe to put in a Location header. */
const returnUrl = allowedText(z.string().max(2048))
  .refine((s) => !s.includes(' '), { error: 'spaces are not allowed' })
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'https:' || u.protocol === 'http:') && !u.username && !u.password;
    } catch {
      return false;
    }
  }, { error: 'expected an absolute http(s) URL without credentials' });

/**
 * JSON.parse makes "__proto__" an own key, which zod's record skips without a word (the payment was
 * stored with `{}`); "constructor" and "prototype" invite the same confusion in merchants' code.
 * Refused by name, before the record is built, rather than silently changed.
 */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const metadata = z.preprocess(
  (value, ctx) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const reserved = Object.keys(value).find((k) => RESERVED_KEYS.has(k));
      if (reserved !== undefined) ctx.addIssue({ code: 'custom', message: 'reserved key: __proto__, constructor and prototype are not allowed', input: value, path: [reserved] });
    }
    return value;
  },
  z
    .record(z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/, { error: 'keys: 1-40 letters, digits, _ . -' }), text(500, 0))
    .refine((m) => Object.keys(m).length <= 20, { error: 'at most 20 keys' }),
);

export const createPaymentSchema = z.strictObject({
  amount: z.int({ error: 'expected an integer amount in minor units' }).positive({ error: 'expected an amount above 0' }).max(MAX_MINOR_AMOUNT),
  currency: z.enum(Object.keys(CURRENCY_EXPONENTS) as [string, ...string[]], { error: `expected one of ${Object.keys(CURRENCY_EXPONENTS).join(', ')}` }).optional(),
  reference: text(100),
  description: text(200),
  return_url: returnUrl,
  // Checked here, not in the service: a malformed login is bad input (never stored as an idempotent reply).
  login_account: text(64).refine(isLogin, { error: 'expected 3 to 64 characters: letters, digits and . _ @ + - (starting with a letter or digit)' }).optional(),
  metadata: metadata.optional(),
});

export const refundSchema = z.strictObject({
  amount: z.int({ error: 'expected an integer amount in minor units' }).positive({ error: 'expected an amount above 0' }).max(MAX_MINOR_AMOUNT).optional(),
  reason: text(200).optional(),
});

const limit = z.coerce.number().int().min(1).max(100).default(20);

export const listPaymentsQuery = z.strictObject({
  reference: text(100).optional(),
  status: z.enum(PAYMENT_STATUSES).optional(),
  limit,
  starting_after: z.string().regex(/^pay_[0-9A-Z]{26}$/, { error: 'expected a payment id' }).optional(),
});

export const listEventsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  limit,
  type: z.string().max(40).optional(),
  payment_id: z.string().regex(/^pay_[0-9A-Z]{26}$/, { error: 'expected a payment id' }).optional(),
});

/** Cancel takes no parameters: an empty body or `{}`; anything else is refused, not ignored. */
export const cancelSchema = z.strictObject({});

function isLogin(input: string): boolean {
  try {
    normalizeLogin(input);
    return true;
  } catch {
    return false;
  }
}

/**
 * The dotted path of the field at fault, up to the first key that cannot be echoed: a key with
 * refused characters (or a very long one) is named by its parent ("metadata"), never sent back.
 */
export function fieldName(path: readonly string[]): string {
  const end = path.findIndex((part) => part.length > 64 || !isAllowedText(part));
  return (end < 0 ? path : path.slice(0, end)).join('.');
}

/** Parses `input`, or throws invalid_field naming the first field at fault. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, where = 'body'): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new CallpayError('invalid_field', `${where}: invalid`, where);
  const path = issue.code === 'unrecognized_keys' ? [...issue.path.map(String), issue.keys[0] ?? ''] : issue.path.map(String);
  const field = fieldName(path) || where;
  // A record's bad key: the key's own rule says what is wrong, not zod's "Invalid key in record".
  const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message;
  throw new CallpayError('invalid_field', `${field}: ${message}`, field);
}
