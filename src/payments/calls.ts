import type { Logger } from '../log.js';
import type { SecretHasher } from '../crypto/secret-hasher.js';
import type { ConsumerRepository } from '../store/consumers.js';
import type { MerchantRepository } from '../store/merchants.js';
import type { PaymentRepository } from '../store/payments.js';
import type { CallRepository } from '../store/calls.js';
import type { ProgressHub } from './progress.js';
import type { CallAuthorizer, CallOutcome, PinCheck } from './ports.js';
import type { PaymentCore } from './service.js';
import type { FailureCode } from '../domain/payment.js';

export interface CallRunnerDeps {
  core: PaymentCore;
  payments: PaymentRepository;
  consumers: ConsumerRepository;
  merchants: MerchantRepository;
  authorizer: CallAuthorizer;
  hasher: SecretHasher;
  calls: CallRepository;
  progress: ProgressHub;
  log: Logger;
  /** Wrong PINs (across calls) within the window that lock the consumer. */
  lockout: { attempts: number; windowMs: number };
  /** Test-only fault injection: die right after the approval is recorded, before the charge. */
  crashAfterApproval: boolean;
}

const DECLINES: Partial<Record<CallOutcome['kind'], FailureCode>> = {
  declined: 'consumer_declined',
  wrong_pin: 'wrong_pin',
  locked: 'consumer_locked',
  no_input: 'no_input',
};
const FAILURES: Partial<Record<CallOutcome['kind'], FailureCode>> = {
  busy: 'busy',
  no_answer: 'no_answer',
  rejected: 'consumer_declined',
  hung_up: 'hung_up',
  failed: 'call_failed',
};

/**
 * Runs authorization calls outside any transaction and records their outcome: approval first
 * (durably), then the charge, so a crash between the two is finished by recovery, never repeated.
 */
export class CallRunner {
  private readonly inFlight = new Map<string, { done: Promise<void>; abort: AbortController }>();
  private readonly expired = new Set<string>();

  constructor(private readonly d: CallRunnerDeps) {}

  start(paymentId: string): void {
    if (this.inFlight.has(paymentId)) return;
    const abort = new AbortController();
    const done = this.run(paymentId, abort.signal)
      .catch((e: unknown) => this.d.log.error({ paymentId, err: e }, 'call handling failed'))
      .finally(() => {
        this.inFlight.delete(paymentId);
        this.expired.delete(paymentId);
      });
    this.inFlight.set(paymentId, { done, abort });
  }

  isCalling(paymentId: string): boolean {
    return this.inFlight.has(paymentId);
  }

  /** Hangs up a call that outlived its payment; the payment then ends as expired. */
  expire(paymentId: string): void {
    const call = this.inFlight.get(paymentId);
    if (!call) return;
    this.expired.add(paymentId);
    call.abort.abort();
  }

  /** Lets in-flight calls finish (graceful stop); `abortAfterMs` hangs up the ones that take too long. */
  async drain(abortAfterMs: number): Promise<void> {
    const timer = setTimeout(() => this.inFlight.forEach((c) => c.abort.abort()), abortAfterMs);
    await Promise.allSettled([...this.inFlight.values()].map((c) => c.done));
    clearTimeout(timer);
  }

  private async run(paymentId: string, signal: AbortSignal): Promise<void> {
    const payment = this.d.payments.get(paymentId);
    const log = this.d.log.child({ paymentId });
    if (payment.status !== 'calling' || !payment.consumerId) return;
    const consumer = this.d.consumers.get(payment.consumerId);
    const merchant = this.d.merchants.get(payment.merchantId);
    if (!this.d.authorizer.live) this.d.payments.markNotLive(paymentId);
    let outcome: CallOutcome;
    try {
      outcome = await this.d.authorizer.authorize({
        paymentId,
        phone: consumer.phone,
        locale: consumer.locale,
        merchantSpokenName: merchant.spokenName,
        merchantVoiceClip: merchant.voiceClip,
        amount: payment.amount,
        currency: payment.currency,
        deadline: new Date(payment.expiresAt),
        verifyPin: async (pin) => {
          const result = await this.verifyPin(consumer.id, paymentId, pin);
          this.d.progress.publish(paymentId, { type: 'pin', result });
          return result;
        },
        onAttempt: (attempt, record) => this.d.calls.recordAttempt(paymentId, attempt, record),
        onProgress: (progress) => this.d.progress.publish(paymentId, progress),
        log,
        signal,
      });
    } catch (e) {
      log.error({ err: e }, 'call engine threw; treating as a failed call');
      outcome = { kind: 'failed', reason: 'engine error' };
    }
    log.info({ outcome: outcome.kind }, 'authorization call ended');
    this.finish(paymentId, outcome);
  }

  /** Wrong PINs count per consumer across calls; reaching the limit locks the consumer. */
  private async verifyPin(consumerId: string, paymentId: string, pin: string): Promise<PinCheck> {
    if (this.d.consumers.get(consumerId).status !== 'active') return 'locked';
    if (await this.d.hasher.verify(pin, this.d.consumers.pinHash(consumerId))) {
      this.d.calls.clearPinFailures(consumerId);
      return 'ok';
    }
    const failures = this.d.calls.recordPinFailure(consumerId, paymentId, this.d.lockout.windowMs);
    if (failures < this.d.lockout.attempts) return 'wrong';
    const consumer = this.d.consumers.get(consumerId);
    if (consumer.status === 'active') this.d.consumers.setStatus(consumerId, 'locked');
    this.d.log.warn({ consumerId, paymentId, failures }, 'consumer locked after too many wrong PINs');
    return 'locked';
  }

  private finish(paymentId: string, outcome: CallOutcome): void {
    const current = this.d.payments.get(paymentId);
    if (current.status !== 'calling') {
      this.d.log.warn({ paymentId, status: current.status, outcome: outcome.kind }, 'call ended after the payment left the call step; outcome ignored');
      return;
    }
    if (this.expired.has(paymentId) && outcome.kind !== 'approved') {
      this.d.core.end(current, 'expired', null, 'expired during the call; call ended');
      return;
    }
    if (outcome.kind === 'approved') {
      this.d.payments.markAuthorized(paymentId, this.d.authorizer.live ? 'PIN verified on the call' : 'approved by the simulated engine (no call placed, not live)');
      if (this.d.crashAfterApproval) process.kill(process.pid, 'SIGKILL');
      this.d.core.charge(paymentId, 'authorized by call');
      return;
    }
    const declined = DECLINES[outcome.kind];
    const code = declined ?? FAILURES[outcome.kind] ?? 'call_failed';
    const reason = outcome.kind === 'failed' ? `call failed: ${outcome.reason}${outcome.sipStatus ? ` (SIP ${outcome.sipStatus})` : ''}` : `call: ${outcome.kind}`;
    this.d.core.end(current, declined ? 'declined' : 'failed', code, reason);
  }
}
