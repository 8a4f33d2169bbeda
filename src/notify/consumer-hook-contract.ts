import * as z from 'zod';

/**
 * The consumer change notification's wire contract (README "11. Self-service by phone",
 * docs/consumer-hook.openapi.yaml): what callpay POSTs to `selfService.notifyHook.url` after a
 * consumer changed their settings by phone. Strict, because it is also a promise: no other field
 * (no number, PIN or address) is ever sent; the carrier knows the consumer by id.
 */
export const consumerChangedEvent = z.strictObject({
  id: z.string().regex(/^evt_[0-9A-Z]{26}$/).describe('unique per change, the same on every retry: deduplicate on it'),
  type: z.literal('consumer.changed'),
  created_at: z.string().describe('when callpay built the notification, ISO 8601 UTC (the signature carries its own timestamp)'),
  data: z.strictObject({
    consumer_id: z.string().regex(/^cons_[0-9A-Z]{26}$/).describe('the id callpay gave the consumer at enrolment'),
    change: z.strictObject({
      kind: z.enum(['pin', 'policy', 'lock', 'unlock']).describe('pin: a new PIN; policy: limits lowered; lock / unlock: payments locked or unlocked by the consumer'),
      changed: z.array(z.enum(['passwordAbove', 'callAbove', 'frictionlessAmount', 'frictionlessCount'])).min(1).optional()
        .describe('with kind policy only: the policy fields changed, as in the audit entry'),
    }),
    via: z.literal('self_service_call'),
    at: z.string().describe('when the change was made, ISO 8601 UTC'),
  }),
});
export type ConsumerChangedEvent = z.infer<typeof consumerChangedEvent>;

/** The notification as an OpenAPI 3.1 document with one `webhooks` entry (scripts/consumer-hook-doc.ts writes it). */
export function consumerHookDocument(version: string): Record<string, unknown> {
  const { $schema: _drop, ...body } = z.toJSONSchema(consumerChangedEvent, { io: 'output', target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    openapi: '3.1.0',
    info: {
      title: 'callpay consumer change notification',
      version,
      description:
        'After a consumer changed their own settings by phone (self-service), callpay POSTs this to the carrier\'s system (selfService.notifyHook.url), which tells the consumer (text, e-mail). ' +
        'Signed like webhooks: Callpay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">, one v1 per secret in selfService.notifyHook.secretFile (newest first). ' +
        'Any 2xx is delivered. No 2xx within selfService.notifyHook.timeoutMs (or no connection) is tried again after 1 s and 5 s with the same body and id, then given up and logged.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    webhooks: {
      consumerChanged: {
        post: {
          summary: 'A consumer changed their settings by phone',
          operationId: 'consumerChanged',
          parameters: [
            { name: 'Callpay-Signature', in: 'header', required: true, schema: { type: 'string', pattern: '^t=\\d+(,v1=[0-9a-f]{64})+$' }, description: 'verify against the raw body before parsing; refuse a t more than 5 minutes from your clock' },
            { name: 'Callpay-Event-Id', in: 'header', required: true, schema: { type: 'string' }, description: 'the body\'s id' },
          ],
          requestBody: { required: true, content: { 'application/json': { schema: body } } },
          responses: {
            '200': { description: 'received (any 2xx); the body is ignored' },
            default: { description: 'anything else, or no answer in time: tried again, at most 3 tries in all' },
          },
        },
      },
    },
  };
}
