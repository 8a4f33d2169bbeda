import type { Clock } from '../domain/clock.js';
import type { FailureCode, Payment, TransitionPatch } from '../domain/payment.js';
import type { CallRecord } from '../domain/call.js';
import type { Consumer } from '../domain/consumer.js';
import type { Logger } from '../log.js';
import type { Store, Transaction } from './repositories.js';
import type { CallOutcome, PinCheck, PreDialVerdict } from './ports.js';
import type { CallSteps, CallSubject, PreparedCall } from './calls.js';
import type { PaymentHooks, SecretVerifier } from './service.js';
import { checkPinWithLockout } from './pin-check.js';
import { recordFraudReport, type FraudReportConfig } from './fraud-report.js';
import { NO_AUTO_DISABLE } from '../domain/fraud.js';

/** The payment service's rules a call's steps use, each inside the caller's transaction. */
export interface PaymentRules {
  charge(tx: Transaction, paymentId: string, reason: string, patch?: TransitionPatch): Promise<Payment>;
  end(tx: Transaction, payment: Payment, to: 'declined' | 'failed' | 'expired' | 'canceled', code: FailureCode | null, reason: string, patch?: TransitionPatch): Promise<Payment>;
  /** Why no further dial may be placed now, or null. */
  callCapReached(tx: Transaction, merchantId: string, consumerId: string, phone: string): Promise<string | null>;
}

export interface PaymentCallStepsDeps extends FraudReportConfig {
  store: Store;
  clock: Clock;
  log: Logger;
  hasher: SecretVerifier;
  /** False when the engine places no real call. */
  live: boolean;
  lockout: { attempts: number; windowMs: number };
  hooks?: PaymentHooks;
  rules: PaymentRules;
  /** This process, and how long its hold on a call lasts without renewal. */
  node: NodeIdentity;
}

export interface NodeIdentity {
  id: string;
  callLeaseMs: number;
}

const DECLINES: Partial<Record<CallOutcome['kind'], FailureCode>> = {
  call_limit: 'call_limit_exceeded',
  declined: 'consumer_declined',
  wrong_pin: 'wrong_pin',
  locked: 'consumer_locked',
  no_input: 'no_input',
  forwarded: 'call_forwarded',
};
const FAILURES: Partial<Record<CallOutcome['kind'], FailureCode>> = {
  busy: 'busy',
  no_answer: 'no_answer',
  rejected: 'consumer_declined',
  hung_up: 'hung_up',
  failed: 'call_failed',
  interrupted: 'interrupted',
  media_timeout: 'media_timeout',
};

/** Every state change during an authorization call comes through here: caps, attempts, PINs, the outcome. */
export class PaymentCallSteps implements CallSteps {
  constructor(private readonly d: PaymentCallStepsDeps) {}

  async beginCall(paymentId: string, alreadyLeased: boolean): Promise<CallSubject | undefined> {
    const payment = await this.d.store.payments.get(paymentId);
    if (payment.status !== 'calling' || !payment.consumerId) return undefined;
    // Exactly one node places the call: the one that takes the lease. In a transaction of its own
    // so that the embedded store commits it with others (one fsync) rather than on its own.
    const leased = alreadyLeased || (await this.d.store.withTransaction((tx) => tx.payments.leaseCall(paymentId, this.d.node.id, this.leaseUntil(), this.d.clock().toISOString())));
    if (!leased) {
      this.d.log.warn({ paymentId }, 'call not placed: another node holds it');
      return undefined;
    }
    const consumer = await this.d.store.consumers.get(payment.consumerId);
    const merchant = await this.d.store.merchants.get(payment.merchantId);
    if (!this.d.live) await this.d.store.payments.markNotLive(paymentId);
    return { payment, consumer, merchant };
  }

  /**
   * The call's first steps, in the transaction that enters the call step, so that the INVITE waits on
   * one commit rather than three and reads nothing more: this node takes the call's lease, reads what
   * the call needs and, unless something is asked before dialling (`askFirst`: the pre-dial check),
   * counts the first dial (its caps were checked just before). No real call (`live` false: the
   * simulated engine) takes beginCall's way.
   */
  async prepare(tx: Transaction, payment: Payment, consumer: Consumer, o: { live: boolean; askFirst: boolean }): Promise<PreparedCall> {
    const leased = await tx.payments.leaseCall(payment.id, this.d.node.id, this.leaseUntil(), this.d.clock().toISOString());
    if (!leased || !o.live) return { leased, firstDialCounted: false };
    const subject = { payment, consumer, merchant: await tx.merchants.get(payment.merchantId) };
    if (o.askFirst) return { leased, firstDialCounted: false, subject };
    await tx.dials.record({ paymentId: payment.id, attempt: 1, consumerId: consumer.id, merchantId: payment.merchantId, number: consumer.phone });
    return { leased, firstDialCounted: true, subject };
  }

  renewLeases(paymentIds: readonly string[]): Promise<string[]> {
    return this.d.store.payments.renewCallLeases(this.d.node.id, paymentIds, this.leaseUntil());
  }

  private leaseUntil(): string {
    return new Date(this.d.clock().getTime() + this.d.node.callLeaseMs).toISOString();
  }

  /**
   * Before every dial, retries included: the caps are checked and this dial counted in one
   * transaction, so concurrent payments cannot all slip under a cap together.
   */
  async mayDial(paymentId: string, attempt: number): Promise<string | null> {
    return this.d.store.withTransaction(async (tx) => {
      const payment = await tx.payments.get(paymentId);
      if (payment.status !== 'calling' || !payment.consumerId) return `payment is ${payment.status}`;
      const consumer = await tx.consumers.get(payment.consumerId);
      const capped = await this.d.rules.callCapReached(tx, payment.merchantId, consumer.id, consumer.phone);
      if (capped) return capped;
      await tx.dials.record({ paymentId, attempt, consumerId: consumer.id, merchantId: payment.merchantId, number: consumer.phone });
      return null;
    });
  }

  async recordAttempt(paymentId: string, attempt: number, record: CallRecord): Promise<void> {
    // A transaction for one statement: on the embedded store it then shares a group commit's fsync.
    await this.d.store.withTransaction((tx) => tx.callRecords.recordAttempt(paymentId, attempt, record));
  }

  /** Wrong PINs count per consumer across calls; reaching the limit locks the consumer. */
  async checkPin(consumerId: string, paymentId: string, pin: string): Promise<PinCheck> {
    if ((await this.d.store.consumers.get(consumerId)).status !== 'active') return 'locked';
    return checkPinWithLockout(this.d, consumerId, paymentId, pin);
  }

  /**
   * The pre-dial check's verdict, before the first dial: 'dial', or 'stop' when the payment left the
   * call step here (refused, or sent back to the password step the verdict asks for).
   */
  async afterPreDial(paymentId: string, verdict: PreDialVerdict): Promise<'dial' | 'stop'> {
    if (verdict.action === 'allow') return 'dial';
    return this.d.store.withTransaction(async (tx) => {
      const p = await tx.payments.get(paymentId);
      if (p.status !== 'calling' || !p.consumerId || !p.decision?.allowed) return 'stop';
      if (verdict.action === 'refuse') {
        await this.d.rules.end(tx, p, verdict.failed ? 'failed' : 'declined', verdict.failed ? 'risk_check_failed' : 'risk_refused', verdict.reason);
        return 'stop';
      }
      // A payment in the call step whose decision has the password step has passed it (identified() saw to that).
      if (p.decision.steps.includes('password')) return 'dial';
      if (!(await tx.consumers.get(p.consumerId)).hasPassword) {
        await this.d.rules.end(tx, p, 'declined', 'risk_refused', `${verdict.reason}; the consumer has no password to ask for`);
        return 'stop';
      }
      // Back to the password step. The hold stays: the same hold is taken up again after the password.
      const decision = { ...p.decision, steps: ['password' as const, ...p.decision.steps], reasons: [...p.decision.reasons, 'password: required by the pre-dial risk check'] };
      await tx.payments.transition(p.id, 'requires_password', `${verdict.reason}; password step required before the call`, { decision });
      return 'stop';
    });
  }

  /** The call's result: approval first (durably), then the charge; otherwise the payment ends. */
  async finishCall(paymentId: string, outcome: CallOutcome, expired: boolean): Promise<void> {
    const { store } = this.d;
    const current = await store.payments.get(paymentId);
    if (current.status !== 'calling') {
      this.d.log.warn({ paymentId, status: current.status, outcome: outcome.kind }, 'call ended after the payment left the call step; outcome ignored');
      return;
    }
    if (outcome.kind === 'fraud_reported') {
      // Before the expiry check: a report made on the call stands even if the payment ran out meanwhile.
      const { rules, clock, log } = this.d;
      await store.withTransaction(async (tx) => {
        const p = await tx.payments.get(paymentId);
        if (p.status === 'calling') await recordFraudReport(tx, { rules, clock, log, policy: this.d.fraudReports ?? NO_AUTO_DISABLE }, p);
      });
      return;
    }
    if (expired && outcome.kind !== 'approved') {
      await store.withTransaction((tx) => this.d.rules.end(tx, current, 'expired', null, 'expired during the call; call ended'));
      return;
    }
    if (outcome.kind === 'approved') {
      await store.payments.markAuthorized(paymentId, this.d.live ? 'PIN verified on the call' : 'approved by the simulated engine (no call placed, not live)');
      this.d.hooks?.afterApproval?.(paymentId);
      await store.withTransaction((tx) => this.d.rules.charge(tx, paymentId, 'authorized by call'));
      return;
    }
    const declined = DECLINES[outcome.kind];
    const code = declined ?? FAILURES[outcome.kind] ?? 'call_failed';
    const reason =
      outcome.kind === 'failed' ? `call failed: ${outcome.reason}${outcome.sipStatus ? ` (SIP ${outcome.sipStatus})` : ''}`
      : outcome.kind === 'interrupted' ? `call ${outcome.reason}`
      : outcome.kind === 'forwarded' ? `${outcome.reason}: the amount was not announced`
      : `call: ${outcome.kind}`;
    await store.withTransaction((tx) => this.d.rules.end(tx, current, declined ? 'declined' : 'failed', code, reason));
  }
}
