import type { Payment } from '../domain/payment.js';

/** The payment as merchants see it in webhooks (no consumer data: the merchant knows its order). */
export function paymentEventData(p: Payment): Record<string, unknown> {
  return {
    payment: {
      id: p.id,
      status: p.status,
      amount: p.amount,
      amount_refunded: p.amountRefunded,
      currency: p.currency,
      reference: p.reference,
      failure_code: p.failureCode,
      live: p.live,
    },
  };
}

export interface ApiContext {
  checkoutUrl(paymentId: string): string;
  pollIntervalSeconds: number;
  now(): Date;
}

/** The full API representation, with CIBA-style poll hints while the payment is still open. */
export function paymentResource(p: Payment, ctx: ApiContext): Record<string, unknown> {
  const open = p.status === 'requires_consumer' || p.status === 'requires_password' || p.status === 'calling';
  const expiresIn = Math.max(0, Math.floor((Date.parse(p.expiresAt) - ctx.now().getTime()) / 1000));
  return {
    id: p.id,
    object: 'payment',
    status: p.status,
    amount: p.amount,
    amount_refunded: p.amountRefunded,
    currency: p.currency,
    reference: p.reference,
    description: p.description,
    return_url: p.returnUrl,
    metadata: p.metadata,
    checkout_url: ctx.checkoutUrl(p.id),
    failure_code: p.failureCode,
    authentication: p.decision?.allowed ? { password: p.decision.steps.includes('password'), call: p.decision.steps.includes('call') } : null,
    live: p.live,
    expires_at: p.expiresAt,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
    auth_req_id: p.id,
    expires_in: open ? expiresIn : 0,
    interval: ctx.pollIntervalSeconds,
  };
}
