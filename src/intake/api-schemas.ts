import * as z from 'zod';
import { PAYMENT_STATUSES, FAILURE_CODES } from '../domain/payment.js';
import { CALL_OUTCOMES } from '../domain/call.js';
import { EVENT_TYPES } from '../domain/event.js';

/**
 * What the merchant API answers, as zod schemas: the OpenAPI document (openapi.ts) is generated from
 * these and from the request schemas the server validates with (schemas.ts), and the API tests check
 * every response against that document, so the code, the document and the tests cannot drift apart.
 */

const timestamp = z.string().describe('RFC 3339 UTC time');
const paymentId = z.string().regex(/^pay_[0-9A-Z]{26}$/);

export const paymentResponse = z.strictObject({
  id: paymentId,
  object: z.literal('payment'),
  status: z.enum(PAYMENT_STATUSES),
  amount: z.int().describe('minor units'),
  amount_refunded: z.int(),
  currency: z.string().length(3),
  reference: z.string(),
  description: z.string(),
  return_url: z.string(),
  metadata: z.record(z.string(), z.string()),
  checkout_url: z.string().describe('where the consumer signs in and is called; signed, not guessable'),
  failure_code: z.enum(FAILURE_CODES).nullable(),
  authentication: z.strictObject({ password: z.boolean(), call: z.boolean() }).nullable().describe('steps the policy asked for, once the consumer is known'),
  live: z.boolean().describe('false: decided without a real call (the simulated engine)'),
  expires_at: timestamp,
  created_at: timestamp,
  updated_at: timestamp,
  auth_req_id: paymentId.describe('CIBA-style alias of id'),
  expires_in: z.int().min(0).describe('seconds left while open; 0 once final'),
  interval: z.int().min(1).describe('suggested polling interval, seconds'),
});

export const paymentList = z.strictObject({
  object: z.literal('list'),
  data: z.array(paymentResponse),
  has_more: z.boolean(),
  next_cursor: paymentId.nullable(),
});

export const refundResponse = z.strictObject({
  id: z.string(),
  object: z.literal('refund'),
  amount: z.int(),
  currency: z.string().length(3),
  reason: z.string().nullable(),
  payment: paymentResponse,
});

export const transitionList = z.strictObject({
  object: z.literal('list'),
  data: z.array(z.strictObject({ from: z.enum(PAYMENT_STATUSES).nullable(), to: z.enum(PAYMENT_STATUSES), reason: z.string(), at: timestamp })),
});

export const eventList = z.strictObject({
  object: z.literal('list'),
  data: z.array(z.strictObject({ id: z.string(), seq: z.int(), type: z.enum(EVENT_TYPES), created_at: timestamp, data: z.record(z.string(), z.unknown()) })),
  has_more: z.boolean(),
  next_after: z.int(),
});

export const callList = z.strictObject({
  object: z.literal('list'),
  data: z.array(z.strictObject({
    object: z.literal('call_attempt'),
    payment_id: paymentId,
    attempt: z.int().min(1),
    call_id: z.string(),
    started_at: timestamp,
    answered_at: timestamp.nullable(),
    ended_at: timestamp.nullable(),
    sip_status: z.int().nullable(),
    outcome: z.enum(CALL_OUTCOMES),
    reason: z.string().nullable(),
    digit_count: z.int().min(0).describe('how many keys were pressed; never which'),
    number: z.string().nullable().describe('the number called, masked; null when it has changed since'),
  })),
  has_more: z.boolean(),
});

export const health = z.strictObject({ status: z.string() });

export function errorResponse(codes: readonly string[]) {
  return z.strictObject({
    error: z.strictObject({
      code: z.enum(codes as [string, ...string[]]),
      message: z.string(),
      field: z.string().optional().describe('the field, header or parameter at fault'),
    }),
  });
}
