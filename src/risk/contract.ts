import * as z from 'zod';

/**
 * The pre-dial risk hook's wire contract (README "Pre-dial risk check", docs/risk-hook.openapi.yaml).
 * Like the webhooks, everything on the wire is snake_case and the body callpay sends is signed as
 * sent (`Callpay-Signature`). The hook is the carrier's own system: it receives the enrolled number
 * because looking that number up (HLR/HSS, CAMARA SIM Swap / Call Forwarding Signal) is its job.
 */

export const RISK_ACTIONS = ['allow', 'require_password', 'refuse'] as const;
export type RiskAction = (typeof RISK_ACTIONS)[number];

/** Strictest first wins: refuse over require_password over allow. */
export function stricter(a: RiskAction, b: RiskAction): RiskAction {
  return RISK_ACTIONS.indexOf(a) >= RISK_ACTIONS.indexOf(b) ? a : b;
}

export const riskCheckRequest = z.strictObject({
  id: z.string().regex(/^risk_[0-9A-Z]{26}$/).describe('unique per check: correlate logs, dedupe retries'),
  type: z.literal('risk.check'),
  created_at: z.string().describe('when callpay sent it, ISO 8601 UTC (the signature carries its own timestamp too)'),
  data: z.strictObject({
    phone_number: z.string().regex(/^\+[1-9]\d{6,14}$/).describe('the enrolled number callpay is about to dial, E.164'),
    payment_id: z.string().regex(/^pay_[0-9A-Z]{26}$/),
    merchant_id: z.string().min(1),
    amount: z.int().min(0).describe('minor units of currency'),
    currency: z.string().regex(/^[A-Z]{3}$/).describe('ISO 4217'),
    live: z.boolean().describe('false when the configured engine places no real call (trials)'),
  }),
});
export type RiskCheckRequest = z.infer<typeof riskCheckRequest>;

/**
 * The hook's answer. The three signals are required keys, each null when the carrier cannot tell,
 * so that a hook answering something else entirely (`{}`, `{"ok": true}`) is malformed rather than a
 * silent "allow". Unknown extra keys are ignored (the hook may add its own).
 */
export const riskCheckResponse = z.object({
  sim_swapped_within_hours: z.int().min(0).max(1_000_000).nullable()
    .describe('hours since the SIM (or eSIM profile) behind the number last changed, rounded up; null = no change on record or unknown'),
  ported: z.boolean().nullable()
    .describe("true = the number moved between carriers within the carrier's own recent-port window; null = unknown"),
  forwarded: z.enum(['unconditional', 'none']).nullable()
    .describe('unconditional = every call to the number is diverted elsewhere (CFU); none = not; null = unknown'),
  decision: z.enum(RISK_ACTIONS).optional()
    .describe("the carrier's own verdict, if it has one; callpay applies the stricter of it and its configured rules"),
});
export type RiskCheckResponse = z.infer<typeof riskCheckResponse>;
