import * as z from 'zod';
import { riskCheckRequest, riskCheckResponse } from './contract.js';

/**
 * The pre-dial risk hook as an OpenAPI 3.1 document with one `webhooks` entry: a request callpay
 * sends to the carrier's system, not part of the merchant API (openapi.yaml). Built from the zod
 * schemas the daemon validates the answer with, written to docs/risk-hook.openapi.yaml
 * by `npx tsx scripts/risk-hook-doc.ts`; test/risk-hook.test.ts fails when they disagree.
 */
export function riskHookDocument(version: string): Record<string, unknown> {
  const json = (schema: z.ZodType, io: 'input' | 'output') => {
    const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12' }) as Record<string, unknown>;
    return rest;
  };
  const failure = (description: string) => ({ description });
  return {
    openapi: '3.1.0',
    info: {
      title: 'callpay pre-dial risk hook',
      version,
      description:
        'Before an authorization call dials, callpay POSTs the number it is about to call to the carrier\'s own system (risk.hook.url) and applies risk.rules to the answer. ' +
        'Signed like webhooks: Callpay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">, one v1 per secret in risk.hook.secretFile (newest first). ' +
        'Any non-2xx status, redirect, a body that is not this JSON, an answer later than risk.hook.timeoutMs or a failed connection is a failure, handled per risk.hook.onFailure (allow = fail open, refuse = fail closed).',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    webhooks: {
      riskCheck: {
        post: {
          summary: 'Is the number about to be called safe to call for this payment?',
          operationId: 'riskCheck',
          parameters: [
            { name: 'Callpay-Signature', in: 'header', required: true, schema: { type: 'string', pattern: '^t=\\d+(,v1=[0-9a-f]{64})+$' }, description: 'verify against the raw body before parsing; refuse a t more than 5 minutes from your clock' },
            { name: 'Callpay-Request-Id', in: 'header', required: true, schema: { type: 'string' }, description: 'the body\'s id' },
          ],
          requestBody: { required: true, content: { 'application/json': { schema: json(riskCheckRequest, 'output') } } },
          responses: {
            '200': { description: 'the carrier\'s answer (any 2xx)', content: { 'application/json': { schema: json(riskCheckResponse, 'input') } } },
            default: failure('anything else is a failure: risk.hook.onFailure decides'),
          },
        },
      },
    },
  };
}
