import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import { CallpayError } from '../domain/errors.js';
import { decide, type CarrierCeilings } from '../domain/policy.js';
import type { FailureCode, Payment, PaymentStatus, TransitionPatch } from '../domain/payment.js';
import { normalizeLogin, type Consumer } from '../domain/consumer.js';
import type { Merchant } from '../domain/merchant.js';
import type { EventType } from '../domain/event.js';
import type { Logger } from '../log.js';
import type { Store, Transaction } from './repositories.js';
import type { CallAuthorizer, PreDialCheck } from './ports.js';
import type { ProgressHub } from './progress.js';
import { CallRunner } from './calls.js';
import { PaymentCallSteps, type NodeIdentity, type PaymentRules } from './call-steps.js';
import { paymentEventData } from './view.js';
import { rehashIfStale } from './rehash.js';
import type { SecretHasher } from '../crypto/secret-hasher.js';
import type { FraudReportConfig } from './fraud-report.js';

export interface CreatePaymentInput {
  amount: number;
  currency: string;
  reference: string;
  description: string;
  returnUrl: string;
  loginAccount?: string | undefined;
  metadata: Record<string, string>;
}

/** Checks a secret (PIN, password) against its Argon2id hash, off the event loop. */
export type SecretVerifier = Pick<SecretHasher, 'verify' | 'hash' | 'needsRehash'>;

/** Seams for fault-injection tests, installed by the wiring; product code never sets them. */
export interface PaymentHooks {
  /** Right after a PIN approval is recorded, before the charge. */
  afterApproval?(paymentId: string): void;
}

export interface PaymentServiceDeps extends FraudReportConfig {
  store: Store;
  clock: Clock;
  log: Logger;
  authorizer: CallAuthorizer;
  hasher: SecretVerifier;
  progress: ProgressHub;
  ceilings(currency: string): CarrierCeilings;
  expiresInSeconds: number;
  /** Toll-fraud caps: dial attempts (retries included) per consumer, merchant and number in a rolling hour. */
  callCaps: CallCaps;
  /** Wrong PINs (across calls) within the window that lock the consumer. */
  lockout: { attempts: number; windowMs: number };
  hooks?: PaymentHooks;
  /** This process among the nodes sharing the store; calls it places are leased to it. */
  node: NodeIdentity;
  /** Asked before each authorization call dials (the pre-dial risk check); none = always dial. */
  preDial?: PreDialCheck;
}

export interface CallCaps {
  perConsumerPerHour: number;
  perMerchantPerHour: number;
  perNumberPerHour: number;
}

/** Why a consumer typed on the checkout page cannot pay this payment (the page says the same for all). */
export type LoginRefusal = 'malformed' | 'unknown' | 'inactive' | 'no_account';

export type IdentifyResult =
  | { kind: 'identified'; payment: Payment; consumerId: string }
  | { kind: 'refused'; reason: LoginRefusal; consumerId?: string }
  /** The payment left the login step meanwhile (the merchant passed the login, or it expired). */
  | { kind: 'moved' };

export type PasswordResult = { kind: 'accepted'; payment: Payment } | { kind: 'wrong' } | { kind: 'moved' };

const OUTCOME_EVENT: Partial<Record<PaymentStatus, EventType>> = {
  succeeded: 'payment.succeeded',
  declined: 'payment.declined',
  failed: 'payment.failed',
  expired: 'payment.expired',
  canceled: 'payment.canceled',
};

const OPEN: readonly PaymentStatus[] = ['requires_consumer', 'requires_password'];

/**
 * The payment's steps, one entry point each, whoever triggers it (merchant API, checkout page,
 * payment QR, call, sweeper): create, identify, submitPassword, authorizeByCall, cancel, refund,
 * expire. Each checks its rules, records its transition, moves money and queues the merchant's
 * event in one transaction, and starts what follows (the call) once that transaction commits.
 * Slow work (the call, Argon2id) happens outside transactions.
 */
export class PaymentService implements PaymentRules {
  readonly calls: CallRunner;
  private readonly steps: PaymentCallSteps;

  constructor(private readonly d: PaymentServiceDeps) {
    const steps = new PaymentCallSteps({ ...d, live: d.authorizer.live, rules: this });
    this.steps = steps;
    this.calls = new CallRunner({ authorizer: d.authorizer, steps, progress: d.progress, log: d.log, renewEveryMs: Math.max(1000, Math.floor(d.node.callLeaseMs / 3)), ...(d.preDial ? { preDial: d.preDial } : {}) });
  }

  get live(): boolean {
    return this.d.authorizer.live;
  }

  /** A merchant's new payment; with a login account the consumer is identified at once. */
  async create(merchant: Merchant, input: CreatePaymentInput, outer?: Transaction): Promise<Payment> {
    if (merchant.status !== 'active') throw new CallpayError('invalid_state', 'merchant: disabled', 'merchant');
    const ceilings = this.d.ceilings(input.currency);
    if (ceilings.maxSinglePayment !== null && input.amount > ceilings.maxSinglePayment) {
      throw new CallpayError('amount_too_large', `amount: above the carrier maximum of ${ceilings.maxSinglePayment} for ${input.currency}`, 'amount');
    }
    const login = input.loginAccount === undefined ? undefined : normalizeLogin(input.loginAccount, 'login_account');
    return this.tx(outer, async (tx) => {
      const consumer = login === undefined ? undefined : await tx.consumers.findByLogin(login);
      if (login !== undefined && !consumer) {
        throw new CallpayError('unknown_consumer', 'login_account: no consumer with this login account', 'login_account');
      }
      const expiresAt = new Date(this.d.clock().getTime() + this.d.expiresInSeconds * 1000).toISOString();
      const payment = await tx.payments.insert(
        { id: newId('pay'), merchantId: merchant.id, amount: input.amount, currency: input.currency, reference: input.reference,
          description: input.description, returnUrl: input.returnUrl, metadata: input.metadata, expiresAt, live: this.live },
        'requires_consumer',
        'created by merchant',
      );
      return consumer ? this.identified(tx, payment, consumer, 'login account from merchant') : payment;
    });
  }

  /**
   * The consumer typed their login account on the checkout page. A login that cannot pay this
   * payment is refused without touching the payment, so the page can say the same for every reason.
   */
  async identify(paymentId: string, loginInput: string): Promise<IdentifyResult> {
    let login: string;
    try {
      login = normalizeLogin(loginInput);
    } catch {
      return { kind: 'refused', reason: 'malformed' };
    }
    return this.d.store.withTransaction(async (tx) => {
      const payment = await this.currentIn(tx, paymentId);
      if (payment.status !== 'requires_consumer') return { kind: 'moved' };
      const consumer = await tx.consumers.findByLogin(login);
      if (!consumer) return { kind: 'refused', reason: 'unknown' };
      if (consumer.status !== 'active') return { kind: 'refused', reason: 'inactive', consumerId: consumer.id };
      const account = await tx.accounts.defaultFor(consumer.id);
      if (!account || account.currency !== payment.currency) return { kind: 'refused', reason: 'no_account', consumerId: consumer.id };
      return { kind: 'identified', payment: await this.identified(tx, payment, consumer, 'login account on the checkout page'), consumerId: consumer.id };
    });
  }

  /** The password typed on the checkout page: checked off the event loop, then the next step. */
  async submitPassword(paymentId: string, password: string): Promise<PasswordResult> {
    const payment = await this.current(paymentId);
    if (!payment || payment.status !== 'requires_password' || !payment.consumerId) return { kind: 'moved' };
    const stored = await this.d.store.consumers.passwordHash(payment.consumerId);
    const ok = stored !== null && password.length > 0 && password.length <= 256 && (await this.d.hasher.verify(password.normalize('NFC'), stored));
    if (!ok) return { kind: 'wrong' };
    rehashIfStale({ hasher: this.d.hasher, consumers: this.d.store.consumers, log: this.d.log }, payment.consumerId, 'password', password.normalize('NFC'), stored);
    // The check took a while: act only if the payment is still waiting for it.
    return this.d.store.withTransaction(async (tx) => {
      const now = await this.currentIn(tx, paymentId);
      if (now.status !== 'requires_password') return { kind: 'moved' };
      return { kind: 'accepted', payment: await this.afterPassword(tx, now, 'password verified on the checkout page') };
    });
  }

  /** Places the authorization call of a payment in the call step (no-op if one is in progress). */
  authorizeByCall(paymentId: string): void {
    this.calls.start(paymentId);
  }

  async cancel(merchant: Merchant, paymentId: string): Promise<Payment> {
    return this.d.store.withTransaction(async (tx) => {
      const payment = await tx.payments.getForMerchant(merchant.id, paymentId);
      if (payment.status === 'canceled') return payment;
      if (!OPEN.includes(payment.status)) {
        throw new CallpayError('invalid_state', `payment: ${paymentId} is ${payment.status} and can no longer be canceled`, 'status');
      }
      return this.end(tx, payment, 'canceled', null, 'canceled by merchant');
    });
  }

  async refund(merchant: Merchant, paymentId: string, amount: number | undefined, reason: string | null, outer?: Transaction): Promise<{ payment: Payment; refundId: string; amount: number }> {
    return this.tx(outer, async (tx) => {
      const payment = await tx.payments.getForMerchant(merchant.id, paymentId);
      if (payment.status !== 'succeeded' && payment.status !== 'partially_refunded') {
        throw new CallpayError('invalid_state', `payment: ${paymentId} is ${payment.status}; only charged payments are refunded`, 'status');
      }
      const left = payment.amount - payment.amountRefunded;
      const value = amount ?? left;
      if (value > left) throw new CallpayError('refund_exceeds_charge', `amount: at most ${left} is left to refund`, 'amount');
      const refundId = newId('re');
      await tx.payments.insertRefund(refundId, paymentId, value, reason);
      await tx.ledger.refund(paymentId, refundId, value);
      const total = payment.amountRefunded + value;
      const to = total === payment.amount ? 'refunded' : 'partially_refunded';
      const done = await tx.payments.transition(paymentId, to, `refund ${refundId} of ${value}`, { amountRefunded: total });
      await tx.events.append(done.merchantId, 'refund.succeeded', done.id, { ...paymentEventData(done), refund: { id: refundId, amount: value, reason } });
      return { payment: done, refundId, amount: value };
    });
  }

  /**
   * Ends a payment whose time is up and releases its hold; one approved on its call is charged
   * instead. A call still in progress is hung up first (it ends the payment when it returns).
   */
  async expire(paymentId: string): Promise<Payment> {
    if (this.calls.isCalling(paymentId)) {
      this.calls.expire(paymentId);
      return this.d.store.payments.get(paymentId);
    }
    return this.d.store.withTransaction(async (tx) => {
      const p = await tx.payments.get(paymentId);
      if (p.status === 'calling' && p.authorizedAt) return this.charge(tx, p.id, 'authorized by call');
      return this.end(tx, p, 'expired', null, 'expired before authorization');
    });
  }

  /**
   * The payment as it stands now. One whose time is up but that the sweeper has not reached yet is
   * expired here, the same way (a call in progress keeps its grace period).
   */
  async current(paymentId: string): Promise<Payment | undefined> {
    const p = await this.d.store.payments.find(paymentId);
    if (!p || !this.overdue(p)) return p;
    try {
      return await this.d.store.withTransaction((tx) => this.currentIn(tx, paymentId));
    } catch (e) {
      this.d.log.warn({ paymentId, err: e }, 'expiry skipped (state changed meanwhile)');
      return this.d.store.payments.find(paymentId);
    }
  }

  /** Expires every payment past its time (calls: past their grace period). */
  async expireDue(callGraceMs: number): Promise<void> {
    for (const p of await this.d.store.payments.dueForExpiry(this.d.clock(), callGraceMs)) {
      try {
        await this.expire(p.id);
      } catch (e) {
        this.d.log.warn({ paymentId: p.id, err: e }, 'expiry skipped (state changed meanwhile)');
      }
    }
  }

  /**
   * Calls no node is running any more. A payment whose PIN was verified is charged (once: the
   * charge is idempotent); one that was mid-call is failed as interrupted and its hold released.
   * At start-up on a store of its own (SQLite) that is every call in progress; on a shared store
   * (and periodically) only calls whose node stopped renewing their lease, each taken over first so
   * that one node alone resolves it.
   */
  async recover(opts: { atStart: boolean }): Promise<void> {
    const { store, node, clock } = this.d;
    const now = clock();
    const everyCall = opts.atStart && !store.shared;
    const candidates = everyCall ? await store.payments.calling() : await store.payments.abandonedCalls(now.toISOString(), new Date(now.getTime() - node.callLeaseMs).toISOString());
    for (const p of candidates) {
      if (this.calls.isCalling(p.id)) continue;
      if (!everyCall && !(await store.payments.leaseCall(p.id, node.id, new Date(now.getTime() + node.callLeaseMs).toISOString(), now.toISOString()))) continue;
      await this.d.store.withTransaction(async (tx) => {
        const current = await tx.payments.get(p.id);
        if (current.status !== 'calling') return; // resolved meanwhile (its node finished after all)
        if (current.authorizedAt) {
          await this.charge(tx, p.id, 'authorized by call (charge completed after restart)');
          this.d.log.warn({ paymentId: p.id }, 'recovered an approved payment: charged');
        } else {
          await this.end(tx, current, 'failed', 'interrupted', everyCall ? 'call interrupted by a restart' : 'call abandoned: its node stopped renewing the lease');
          this.d.log.warn({ paymentId: p.id }, 'recovered an interrupted call: failed, hold released');
        }
      });
    }
  }

  // ---- Rules shared by the steps (and the call's steps), inside the caller's transaction. ----

  /**
   * The consumer is known: apply the policy and funds checks, then wait for the password, place
   * the hold for a call, or charge at once.
   */
  private async identified(tx: Transaction, payment: Payment, consumer: Consumer, how: string): Promise<Payment> {
    if (payment.status !== 'requires_consumer') throw new CallpayError('invalid_state', `payment: ${payment.id} is ${payment.status}`, 'status');
    if (consumer.status !== 'active') {
      return this.end(tx, payment, 'declined', consumer.status === 'locked' ? 'consumer_locked' : 'consumer_unavailable', `consumer is ${consumer.status}`, { consumerId: consumer.id });
    }
    const account = await tx.accounts.defaultFor(consumer.id);
    if (!account || account.currency !== payment.currency) {
      return this.end(tx, payment, 'declined', 'consumer_unavailable', account ? `default account bills in ${account.currency}` : 'no billable account', { consumerId: consumer.id });
    }
    const decision = decide({
      amount: payment.amount,
      policy: consumer.policy,
      hasPassword: consumer.hasPassword,
      ceilings: this.d.ceilings(payment.currency),
      usage: await tx.payments.frictionlessUsage(consumer.id),
      allowanceLocked: (await tx.fraud.allowanceLock(consumer.id)) !== undefined,
    });
    const patch = { consumerId: consumer.id, billableAccountId: account.id, decision };
    if (!decision.allowed) return this.end(tx, payment, 'declined', 'consumer_unavailable', decision.reasons.join('; '), patch);
    const available = await tx.ledger.available(account.id);
    if (available < payment.amount) {
      const code: FailureCode = account.plan === 'prepaid' ? 'insufficient_funds' : 'credit_limit_exceeded';
      return this.end(tx, payment, 'declined', code, `${code} before any call`, patch);
    }
    if (decision.steps.includes('password')) {
      return tx.payments.transition(payment.id, 'requires_password', `identified (${how}); password required`, patch);
    }
    return this.afterPassword(tx, payment, `identified (${how})`, patch);
  }

  /** Password checked (or not needed): hold and call, or charge straight away. */
  private async afterPassword(tx: Transaction, payment: Payment, why: string, identified: TransitionPatch = {}): Promise<Payment> {
    const accountId = identified.billableAccountId ?? payment.billableAccountId;
    const decision = identified.decision ?? payment.decision;
    if (!accountId || !decision?.allowed) throw new CallpayError('invalid_state', `payment: ${payment.id} has no consumer yet`, 'status');
    const hold = await tx.ledger.hold({ paymentId: payment.id, merchantId: payment.merchantId, billableAccountId: accountId, amount: payment.amount, currency: payment.currency });
    if (!hold.ok) return this.end(tx, payment, 'declined', hold.code, `${hold.code} before any call`, identified);
    if (decision.steps.includes('call')) {
      const consumer = await tx.consumers.get(identified.consumerId ?? payment.consumerId ?? '');
      const capped = await this.callCapReached(tx, payment.merchantId, consumer.id, consumer.phone);
      if (capped) {
        await tx.ledger.void(payment.id);
        return this.end(tx, payment, 'declined', 'call_limit_exceeded', capped, identified);
      }
      const calling = await tx.payments.transition(payment.id, 'calling', `${why}; hold placed, calling`, identified);
      const prepared = await this.steps.prepare(tx, calling, consumer, { live: this.live, askFirst: this.d.preDial !== undefined });
      tx.afterCommit(() => this.calls.start(payment.id, prepared));
      return calling;
    }
    return this.charge(tx, payment.id, `${why}; no call needed at this amount`, identified);
  }

  /** Posts the hold and marks success. Idempotent: a payment already charged is returned as is. */
  async charge(tx: Transaction, paymentId: string, reason: string, patch: TransitionPatch = {}): Promise<Payment> {
    const payment = await tx.payments.get(paymentId);
    if (payment.status === 'succeeded' || payment.status === 'refunded' || payment.status === 'partially_refunded') return payment;
    await tx.ledger.post(paymentId);
    const done = await tx.payments.transition(paymentId, 'succeeded', reason, patch);
    await tx.events.append(done.merchantId, 'payment.succeeded', done.id, paymentEventData(done));
    return done;
  }

  /** Ends a payment unsuccessfully: releases any hold and tells the merchant. */
  async end(tx: Transaction, payment: Payment, to: 'declined' | 'failed' | 'expired' | 'canceled', code: FailureCode | null, reason: string, patch: TransitionPatch = {}): Promise<Payment> {
    await tx.ledger.void(payment.id);
    const done = await tx.payments.transition(payment.id, to, reason, { ...patch, ...(code ? { failureCode: code } : {}) });
    const type = OUTCOME_EVENT[to];
    if (type) await tx.events.append(done.merchantId, type, done.id, paymentEventData(done));
    return done;
  }

  /** The payment inside a transaction, expired first if its time is up. */
  private async currentIn(tx: Transaction, paymentId: string): Promise<Payment> {
    const p = await tx.payments.get(paymentId);
    return this.overdue(p) ? this.end(tx, p, 'expired', null, 'expired before authorization') : p;
  }

  private overdue(p: Payment): boolean {
    return OPEN.includes(p.status) && Date.parse(p.expiresAt) <= this.d.clock().getTime();
  }

  /** Why no further dial may be placed now, or null: every dial in the last hour counts, retries included. */
  async callCapReached(tx: Transaction, merchantId: string, consumerId: string, phone: string): Promise<string | null> {
    const since = new Date(this.d.clock().getTime() - 3_600_000);
    const caps = this.d.callCaps;
    if ((await tx.dials.countSince({ consumerId }, since)) >= caps.perConsumerPerHour) {
      return `call cap: ${caps.perConsumerPerHour} calls to this consumer in the last hour`;
    }
    if ((await tx.dials.countSince({ number: phone }, since)) >= caps.perNumberPerHour) {
      return `call cap: ${caps.perNumberPerHour} calls to this number in the last hour`;
    }
    if ((await tx.dials.countSince({ merchantId }, since)) >= caps.perMerchantPerHour) {
      return `call cap: ${caps.perMerchantPerHour} calls for this merchant in the last hour`;
    }
    return null;
  }

  /** Inside the caller's transaction when given one (the caller decides what a failure undoes), else its own. */
  private tx<T>(outer: Transaction | undefined, work: (tx: Transaction) => Promise<T>): Promise<T> {
    return outer ? work(outer) : this.d.store.withTransaction(work);
  }
}
