import { CallpayError } from './errors.js';

import type { Decision } from './policy.js';

export const PAYMENT_STATUSES = [
  'requires_consumer', 'requires_password', 'calling', 'succeeded', 'declined', 'failed', 'expired', 'canceled',
  'refunded', 'partially_refunded',
] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/** Statuses from which no further authorization step happens (refunds may still follow success). */
export const FINAL_STATUSES: ReadonlySet<PaymentStatus> = new Set(['succeeded', 'declined', 'failed', 'expired', 'canceled', 'refunded', 'partially_refunded']);

/** Every allowed move. Anything else is a bug or a race, and is refused. */
const TRANSITIONS: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  requires_consumer: ['requires_password', 'calling', 'succeeded', 'declined', 'failed', 'expired', 'canceled'],
  requires_password: ['calling', 'succeeded', 'declined', 'failed', 'expired', 'canceled'],
  // Back to the password step when the pre-dial risk check asks for it (before any dial).
  calling: ['requires_password', 'succeeded', 'declined', 'failed', 'expired'],
  succeeded: ['partially_refunded', 'refunded'],
  partially_refunded: ['partially_refunded', 'refunded'],
  declined: [],
  failed: [],
  expired: [],
  canceled: [],
  refunded: [],
};

/** From the call step back to an earlier, unfinished one (e.g. the password step a risk check asks for). */
export function leavesCallBackwards(from: PaymentStatus, to: PaymentStatus): boolean {
  return from === 'calling' && to !== 'calling' && !FINAL_STATUSES.has(to);
}

export function canTransition(from: PaymentStatus, to: PaymentStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(paymentId: string, from: PaymentStatus, to: PaymentStatus): void {
  if (!canTransition(from, to)) {
    throw new CallpayError('invalid_state', `payment: ${paymentId} is ${from} and cannot become ${to}`, 'status');
  }
}

/** Why a payment did not succeed: a stable code the merchant can switch on. */
export const FAILURE_CODES = [
  'insufficient_funds', 'credit_limit_exceeded', 'consumer_declined', 'wrong_pin', 'no_input', 'consumer_locked',
  'consumer_unavailable', 'call_limit_exceeded', 'busy', 'no_answer', 'call_failed', 'hung_up', 'interrupted', 'password_failed',
  'media_timeout', 'risk_refused', 'risk_check_failed', 'call_forwarded',
  // The consumer keyed 0 on the call: they did not start this payment (domain/fraud.ts).
  'fraud_reported',
] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

export interface Payment {
  id: string;
  merchantId: string;
  amount: number;
  currency: string;
  reference: string;
  description: string;
  returnUrl: string;
  metadata: Record<string, string>;
  consumerId: string | null;
  billableAccountId: string | null;
  status: PaymentStatus;
  decision: Decision | null;
  failureCode: FailureCode | null;
  live: boolean;
  amountRefunded: number;
  authorizedAt: string | null;
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
}

export type NewPayment = Pick<
  Payment,
  'id' | 'merchantId' | 'amount' | 'currency' | 'reference' | 'description' | 'returnUrl' | 'metadata' | 'expiresAt' | 'live'
>;

export interface Transition {
  fromStatus: PaymentStatus | null;
  toStatus: PaymentStatus;
  reason: string;
  createdAt: string;
}

/** Fields a transition may set together with the new status. */
export interface TransitionPatch {
  consumerId?: string;
  billableAccountId?: string;
  decision?: Decision;
  failureCode?: FailureCode;
  live?: boolean;
  amountRefunded?: number;
}
