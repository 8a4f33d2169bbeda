import * as z from 'zod';
import type { ErrorCode } from '../domain/errors.js';
import { statusFor } from './errors.js';
import { CallpayError } from '../domain/errors.js';
import { cancelSchema, createPaymentSchema, listEventsQuery, listPaymentsQuery, refundSchema } from './schemas.js';
import { listCallsQuery } from './routes/calls.js';
import { callList, errorResponse, eventList, health, paymentList, paymentResponse, refundResponse, transitionList } from './api-schemas.js';

/**
 * The merchant API as an OpenAPI 3.1 document, built from the zod schemas the server validates
 * requests with and the response schemas of api-schemas.ts. Served at /v1/openapi.json and written
 * to openapi.yaml (`npm run openapi`); a test fails when the file and this code disagree.
 */

type JsonSchema = Record<string, unknown>;

function json(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  return rest;
}

/** Every /v1 route can answer these: authentication, the merchant's state, its rate. */
const ALWAYS: ErrorCode[] = ['unauthorized', 'merchant_disabled', 'rate_limited'];
const BODY: ErrorCode[] = ['invalid_field', 'malformed_json', 'unsupported_media_type', 'payload_too_large'];

interface Operation {
  method: 'get' | 'post';
  path: string;
  summary: string;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** Successful status and its schema. */
  ok: [number, z.ZodType];
  errors: ErrorCode[];
  idempotent?: boolean;
  public?: boolean;
}

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^pay_[0-9A-Z]{26}$' } };

export const OPERATIONS: readonly Operation[] = [
  { method: 'post', path: '/v1/payments', summary: 'Create a payment (the consumer signs in on checkout_url, or is named by login_account and called at once)', body: createPaymentSchema, ok: [201, paymentResponse], errors: [...BODY, 'idempotency_key_missing', 'idempotency_conflict', 'amount_too_large', 'unknown_consumer'], idempotent: true },
  { method: 'get', path: '/v1/payments', summary: "List the merchant's payments, newest first", query: listPaymentsQuery, ok: [200, paymentList], errors: ['invalid_field'] },
  { method: 'get', path: '/v1/payments/{id}', summary: 'Get a payment (poll it, or wait for the webhook)', ok: [200, paymentResponse], errors: ['not_found'] },
  { method: 'post', path: '/v1/payments/{id}/cancel', summary: 'Cancel a payment that is still waiting for the consumer', body: cancelSchema, ok: [200, paymentResponse], errors: [...BODY, 'not_found', 'invalid_state'] },
  { method: 'post', path: '/v1/payments/{id}/refunds', summary: 'Refund a succeeded payment, in full or in part', body: refundSchema, ok: [201, refundResponse], errors: [...BODY, 'not_found', 'invalid_state', 'idempotency_key_missing', 'idempotency_conflict', 'refund_exceeds_charge'], idempotent: true },
  { method: 'get', path: '/v1/payments/{id}/transitions', summary: "A payment's status history", ok: [200, transitionList], errors: ['not_found'] },
  { method: 'get', path: '/v1/payments/{id}/calls', summary: "A payment's authorization call attempts (never the digits; the number masked)", query: listCallsQuery, ok: [200, callList], errors: ['invalid_field', 'not_found'] },
  { method: 'get', path: '/v1/events', summary: "The merchant's events, oldest first, from any sequence number (what webhooks deliver)", query: listEventsQuery, ok: [200, eventList], errors: ['invalid_field'] },
  { method: 'get', path: '/healthz', summary: 'Liveness', ok: [200, health], errors: [], public: true },
  { method: 'get', path: '/readyz', summary: 'Readiness (503 while starting, stopping, or while the call engine cannot place calls)', ok: [200, health], errors: [], public: true },
];

/** HTTP status → the error codes an operation can answer with it. */
function errorsByStatus(codes: readonly ErrorCode[]): Map<number, ErrorCode[]> {
  const out = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = statusFor(new CallpayError(code, code));
    out.set(status, [...(out.get(status) ?? []), code]);
  }
  return out;
}

function operation(op: Operation): JsonSchema {
  const parameters: JsonSchema[] = [];
  if (op.path.includes('{id}')) parameters.push(idParam);
  if (op.query) {
    const q = json(op.query, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, schema] of Object.entries(q.properties ?? {})) parameters.push({ name, in: 'query', required: (q.required ?? []).includes(name), schema });
  }
  if (op.idempotent) parameters.push({ name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' }, description: 'the same key replays the stored response (header Idempotent-Replayed: true) for 7 days' });
  const responses: Record<string, JsonSchema> = {
    [String(op.ok[0])]: { description: 'success', content: { 'application/json': { schema: json(op.ok[1], 'output') } } },
  };
  const codes = op.public ? op.errors : [...ALWAYS, ...op.errors];
  for (const [status, list] of errorsByStatus(codes)) {
    responses[String(status)] = {
      description: `error: ${list.join(', ')}`,
      'x-error-codes': list,
      ...(status === 429 ? { headers: { 'Retry-After': { schema: { type: 'integer' } } } } : {}),
      content: { 'application/json': { schema: json(errorResponse(list), 'output') } },
    };
  }
  if (op.path === '/readyz') responses['503'] = { description: 'not ready', content: { 'application/json': { schema: json(health, 'output') } } };
  if (!op.public) responses['500'] = { description: 'internal error (detail only in the log)', 'x-error-codes': ['internal'], content: { 'application/json': { schema: json(errorResponse(['internal']), 'output') } } };
  return {
    summary: op.summary,
    operationId: `${op.method}${op.path.replace(/^\/v1/, '').replace(/\{id\}/g, 'ById').replace(/[^A-Za-z]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
    ...(op.public ? { security: [] } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(op.body ? { requestBody: { required: op.method === 'post' && op.body !== cancelSchema && op.body !== refundSchema, content: { 'application/json': { schema: json(op.body, 'input') } } } } : {}),
    responses,
  };
}

export function openApiDocument(version: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const op of OPERATIONS) (paths[op.path] ??= {})[op.method] = operation(op);
  paths['/v1/openapi.json'] = { get: { summary: 'This document', operationId: 'getOpenApi', security: [], responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } } } };
  return {
    openapi: '3.1.0',
    info: {
      title: 'callpay merchant API',
      version,
      description: 'Payments authorized by a phone call to the consumer and a PIN keyed by DTMF, billed to the carrier account. Amounts are integers in minor units. Errors are {"error": {"code", "message", "field"}}; switch on code.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    security: [{ apiKey: [] }],
    components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <the merchant API key>' } } },
    paths,
  };
}
