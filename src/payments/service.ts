import type { Db } from '../store/db.js';
import type { PaymentRepository } from '../store/payments.js';
import type { ConsumerRepository } from '../store/consumers.js';
import type { AccountRepository } from '../store/accounts.js';
import type { Ledger } from '../store/ledger.js';
import type { EventRepository } from '../store/events.js';
import { CallpayError } from '../domain/errors.js';
import { decide, STRICT_CEILINGS, type CarrierCeilings } from '../domain/policy.js';
import type { FailureCode, PaymentStatus } from '../domain/payment.js';
import { normalizeLogin } from '../domain/consumer.js';
import { paymentEventData } from './view.js';
import type { Clock } from '../domain/clock.js';
import type { Consumer } from '../domain/consumer.js';
import type { EventType } from '../domain/event.js';
import { newId } from '../domain/ids.js';
import type { Merchant } from '../domain/merchant.js';
import type { Payment, TransitionPatch } from '../domain/payment.js';

export interface CreatePaymentInput {
  amount: number;
  currency: string;
  reference: string;
  description: string;
  returnUrl: string;
  loginAccount?: string | undefined;
  metadata: Record<string, string>;
}

export interface PaymentCoreDeps {
  db: Db;
  clock: Clock;
  payments: PaymentRepository;
  consumers: ConsumerRepository;
  accounts: AccountRepository;
  ledger: Ledger;
  events: EventRepository;
  ceilings(currency: string): CarrierCeilings;
  expiresInSeconds: number;
  /** False when the configured engine places no real call. */
  live: boolean;
  /** Toll-fraud caps: authorization calls per consumer and per merchant in a rolling hour. */
  callCaps: { perConsumerPerHour: number; perMerchantPerHour: number };
}

/** What happened when a consumer was identified: whether the caller must now place the call. */
export interface Progress {
  payment: Payment;
  callNeeded: boolean;
}

const OUTCOME_EVENT: Partial<Record<PaymentStatus, EventType>> = {
  succeeded: 'payment.succeeded',
  declined: 'payment.declined',
  failed: 'payment.failed',
  expired: 'payment.expired',
  canceled: 'payment.canceled',
};

/**
 * The synchronous core of the payment lifecycle: every method is one transaction that checks the
 * rules, moves money in the ledger, records the transition and queues the merchant's event
 * together. Slow work (the call, Argon2id) happens outside, in calls.ts.
 */
export class PaymentCore {
  constructor(private readonly d: PaymentCoreDeps) {}

  create(merchant: Merchant, input: CreatePaymentInput): Progress {
    if (merchant.status !== 'active') throw new CallpayError('invalid_state', 'merchant: disabled', 'merchant');
    const ceilings = this.d.ceilings(input.currency);
    if (ceilings.maxSinglePayment !== null && input.amount > ceilings.maxSinglePayment) {
      throw new CallpayError('amount_too_large', `amount: above the carrier maximum of ${ceilings.maxSinglePayment} for ${input.currency}`, 'amount');
    }
    const login = input.loginAccount === undefined ? undefined : normalizeLogin(input.loginAccount, 'login_account');
    return this.tx(() => {
      const consumer = login === undefined ? undefined : this.d.consumers.findByLogin(login);
      if (login !== undefined && !consumer) {
        throw new CallpayError('unknown_consumer', 'login_account: no consumer with this login account', 'login_account');
      }
      const expiresAt = new Date(this.d.clock().getTime() + this.d.expiresInSeconds * 1000).toISOString();
      const payment = this.d.payments.insert(
        { id: newId('pay'), merchantId: merchant.id, amount: input.amount, currency: input.currency, reference: input.reference,
          description: input.description, returnUrl: input.returnUrl, metadata: input.metadata, expiresAt, live: this.d.live },
        'requires_consumer',
        'created by merchant',
      );
      return consumer ? this.identify(payment.id, consumer, 'login account from merchant') : { payment, callNeeded: false };
    });
  }

  /**
   * The consumer is known (from the merchant or the checkout page): apply the policy and funds
   * checks, then wait for the password, place the hold for a call, or charge at once.
   */
  identify(paymentId: string, consumer: Consumer, how: string): Progress {
    return this.tx(() => {
      const payment = this.d.payments.get(paymentId);
      if (payment.status !== 'requires_consumer') throw new CallpayError('invalid_state', `payment: ${paymentId} is ${payment.status}`, 'status');
      if (consumer.status !== 'active') {
        return this.end(payment, 'declined', consumer.status === 'locked' ? 'consumer_locked' : 'consumer_unavailable', `consumer is ${consumer.status}`, { consumerId: consumer.id });
      }
      const account = this.d.accounts.defaultFor(consumer.id);
      if (!account || account.currency !== payment.currency) {
        return this.end(payment, 'declined', 'consumer_unavailable', account ? `default account bills in ${account.currency}` : 'no billable account', { consumerId: consumer.id });
      }
      const decision = decide({
        amount: payment.amount,
        policy: consumer.policy,
        hasPassword: consumer.hasPassword,
        ceilings: this.d.ceilings(payment.currency),
        usage: this.d.payments.frictionlessUsage(consumer.id),
      });
      const patch = { consumerId: consumer.id, billableAccountId: account.id, decision };
      if (!decision.allowed) return this.end(payment, 'declined', 'consumer_unavailable', decision.reasons.join('; '), patch);
      const available = this.d.ledger.available(account.id);
      if (available < payment.amount) {
        const code: FailureCode = account.plan === 'prepaid' ? 'insufficient_funds' : 'credit_limit_exceeded';
        return this.end(payment, 'declined', code, `${code} before any call`, patch);
      }
      if (decision.steps.includes('password')) {
        return { payment: this.d.payments.transition(paymentId, 'requires_password', `identified (${how}); password required`, patch), callNeeded: false };
      }
      return this.afterPassword(paymentId, `identified (${how})`, patch);
    });
  }

  /** Password checked (or not needed): hold and call, or charge straight away. */
  afterPassword(paymentId: string, why: string, identified: TransitionPatch = {}): Progress {
    return this.tx(() => {
      const payment = this.d.payments.get(paymentId);
      const accountId = identified.billableAccountId ?? payment.billableAccountId;
      const decision = identified.decision ?? payment.decision;
      if (!accountId || !decision?.allowed) throw new CallpayError('invalid_state', `payment: ${paymentId} has no consumer yet`, 'status');
      const hold = this.d.ledger.hold({ paymentId, merchantId: payment.merchantId, billableAccountId: accountId, amount: payment.amount, currency: payment.currency });
      if (!hold.ok) return this.end(payment, 'declined', hold.code, `${hold.code} before any call`, identified);
      if (decision.steps.includes('call')) {
        const capped = this.callCapReached(payment.merchantId, identified.consumerId ?? payment.consumerId);
        if (capped) {
          this.d.ledger.void(paymentId);
          return this.end(payment, 'declined', 'call_limit_exceeded', capped, identified);
        }
        return { payment: this.d.payments.transition(paymentId, 'calling', `${why}; hold placed, calling`, identified), callNeeded: true };
      }
      return { payment: this.charge(paymentId, `${why}; no call needed at this amount`, identified), callNeeded: false };
    });
  }

  /** Posts the hold and marks success. Idempotent: a payment already charged is returned as is. */
  charge(paymentId: string, reason: string, patch: TransitionPatch = {}): Payment {
    return this.tx(() => {
      const payment = this.d.payments.get(paymentId);
      if (payment.status === 'succeeded' || payment.status === 'refunded' || payment.status === 'partially_refunded') return payment;
      this.d.ledger.post(paymentId);
      const done = this.d.payments.transition(paymentId, 'succeeded', reason, patch);
      this.d.events.append(done.merchantId, 'payment.succeeded', done.id, paymentEventData(done));
      return done;
    });
  }

  /** Ends a payment unsuccessfully: releases any hold and tells the merchant. */
  end(payment: Payment, to: 'declined' | 'failed' | 'expired' | 'canceled', code: FailureCode | null, reason: string, patch: TransitionPatch = {}): Progress {
    return this.tx(() => {
      this.d.ledger.void(payment.id);
      const done = this.d.payments.transition(payment.id, to, reason, { ...patch, ...(code ? { failureCode: code } : {}) });
      const type = OUTCOME_EVENT[to];
      if (type) this.d.events.append(done.merchantId, type, done.id, paymentEventData(done));
      return { payment: done, callNeeded: false };
    });
  }

  cancel(merchant: Merchant, paymentId: string): Payment {
    return this.tx(() => {
      const payment = this.d.payments.getForMerchant(merchant.id, paymentId);
      if (payment.status === 'canceled') return payment;
      if (payment.status !== 'requires_consumer' && payment.status !== 'requires_password') {
        throw new CallpayError('invalid_state', `payment: ${paymentId} is ${payment.status} and can no longer be canceled`, 'status');
      }
      return this.end(payment, 'canceled', null, 'canceled by merchant').payment;
    });
  }

  refund(merchant: Merchant, paymentId: string, amount: number | undefined, reason: string | null): { payment: Payment; refundId: string; amount: number } {
    return this.tx(() => {
      const payment = this.d.payments.getForMerchant(merchant.id, paymentId);
      if (payment.status !== 'succeeded' && payment.status !== 'partially_refunded') {
        throw new CallpayError('invalid_state', `payment: ${paymentId} is ${payment.status}; only charged payments are refunded`, 'status');
      }
      const left = payment.amount - payment.amountRefunded;
      const value = amount ?? left;
      if (value > left) throw new CallpayError('refund_exceeds_charge', `amount: at most ${left} is left to refund`, 'amount');
      const refundId = newId('re');
      this.d.payments.insertRefund(refundId, paymentId, value, reason);
      this.d.ledger.refund(paymentId, refundId, value);
      const total = payment.amountRefunded + value;
      const to = total === payment.amount ? 'refunded' : 'partially_refunded';
      const done = this.d.payments.transition(paymentId, to, `refund ${refundId} of ${value}`, { amountRefunded: total });
      this.d.events.append(done.merchantId, 'refund.succeeded', done.id, { ...paymentEventData(done), refund: { id: refundId, amount: value, reason } });
      return { payment: done, refundId, amount: value };
    });
  }

  /** Why no further call may be placed now, or null. */
  private callCapReached(merchantId: string, consumerId: string | null): string | null {
    const since = new Date(this.d.clock().getTime() - 3_600_000);
    const caps = this.d.callCaps;
    if (consumerId && this.d.payments.callsStartedSince({ consumerId }, since) >= caps.perConsumerPerHour) {
      return `call cap: ${caps.perConsumerPerHour} calls to this consumer in the last hour`;
    }
    if (this.d.payments.callsStartedSince({ merchantId }, since) >= caps.perMerchantPerHour) {
      return `call cap: ${caps.perMerchantPerHour} calls for this merchant in the last hour`;
    }
    return null;
  }

  private tx<T>(fn: () => T): T {
    return this.d.db.transaction(fn).immediate();
  }
}
