import * as z from 'zod';
import { CallpayError } from '../domain/errors.js';
import { CURRENCY_EXPONENTS, MAX_MINOR_AMOUNT } from '../domain/money.js';
import { PAYMENT_STATUSES } from '../domain/payment.js';

/** Printable text without control characters (no CR/LF smuggled into headers, logs or CSV). */
function text(max: number, min = 1) {
  return z.string().min(min).max(max).regex(/^[^\u0000-\u001f\u007f]*$/, { error: 'control characters are not allowed' });
}

/** Absolute http(s) URL without credentials or control characters: safe to put in a Location header. */
const returnUrl = z
  .string()
  .max(2048)
  .refine((s) => !/[\u0000-\u0020\u007f]/.test(s), { error: 'spaces and control characters are not allowed' })
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'https:' || u.protocol === 'http:') && !u.username && !u.password;
    } catch {
      return false;
    }
  }, { error: 'expected an absolute http(s) URL without credentials' });

const metadata = z
  .record(z.string().regex(/^[A-Za-z0-9_.-]{1,40}$/, { error: 'keys: 1-40 letters, digits, _ . -' }), text(500, 0))
  .refine((m) => Object.keys(m).length <= 20, { error: 'at most 20 keys' });

export const createPaymentSchema = z.strictObject({
  amount: z.int({ error: 'expected an integer amount in minor units' }).positive({ error: 'expected an amount above 0' }).max(MAX_MINOR_AMOUNT),
  currency: z.enum(Object.keys(CURRENCY_EXPONENTS) as [string, ...string[]], { error: `expected one of ${Object.keys(CURRENCY_EXPONENTS).join(', ')}` }).optional(),
  reference: text(100),
  description: text(200),
  return_url: returnUrl,
  login_account: text(64).optional(),
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
  payment_id: z.string().max(40).optional(),
});

/** Parses `input`, or throws invalid_field naming the first field at fault. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, where = 'body'): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (!issue) throw new CallpayError('invalid_field', `${where}: invalid`, where);
  const path = issue.path.map(String);
  const field = issue.code === 'unrecognized_keys' ? [...path, issue.keys[0]].join('.') : path.join('.') || where;
  const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
  throw new CallpayError('invalid_field', `${field}: ${message}`, field);
}
