import type { Logger } from '../log.js';
import type { Payment } from '../domain/payment.js';
import type { Consumer } from '../domain/consumer.js';
import type { Merchant } from '../domain/merchant.js';
import type { CallRecord } from '../domain/call.js';
import type { ProgressHub } from './progress.js';
import type { CallAuthorizer, CallOutcome, PinCheck } from './ports.js';

/** What a call needs to know about its payment. */
export interface CallSubject {
  payment: Payment;
  consumer: Consumer;
  merchant: Merchant;
}

/** The payment service's steps a call goes through: every state change during a call is one of these. */
export interface CallSteps {
  /** The payment, its consumer and merchant, if it is still in the call step. */
  beginCall(paymentId: string): Promise<CallSubject | undefined>;
  /** Checks the call caps and, when under them, counts this dial: null = dial; else why not. */
  mayDial(paymentId: string, attempt: number): Promise<string | null>;
  recordAttempt(paymentId: string, attempt: number, record: CallRecord): Promise<void>;
  checkPin(consumerId: string, paymentId: string, pin: string): Promise<PinCheck>;
  finishCall(paymentId: string, outcome: CallOutcome, expired: boolean): Promise<void>;
}

export interface CallRunnerDeps {
  authorizer: CallAuthorizer;
  steps: CallSteps;
  progress: ProgressHub;
  log: Logger;
}

/**
 * Runs authorization calls outside any transaction, one per payment, and hands their outcome to
 * the payment service. Tracks calls in flight so they can be expired or drained on stop.
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
    const subject = await this.d.steps.beginCall(paymentId);
    if (!subject) return;
    const { payment, consumer, merchant } = subject;
    const log = this.d.log.child({ paymentId });
    // Call records are written in order, as they come; a failed write is logged, never fatal to the call.
    let records = Promise.resolve();
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
        mayDial: (attempt) => this.d.steps.mayDial(paymentId, attempt),
        verifyPin: async (pin) => {
          const result = await this.d.steps.checkPin(consumer.id, paymentId, pin);
          this.d.progress.publish(paymentId, { type: 'pin', result });
          return result;
        },
        onAttempt: (attempt, record) => {
          const copy = { ...record };
          records = records
            .then(() => this.d.steps.recordAttempt(paymentId, attempt, copy))
            .catch((e: unknown) => log.error({ err: e, attempt }, 'call record not written'));
        },
        onProgress: (progress) => this.d.progress.publish(paymentId, progress),
        log,
        signal,
      });
    } catch (e) {
      log.error({ err: e }, 'call engine threw; treating as a failed call');
      outcome = { kind: 'failed', reason: 'engine error' };
    }
    await records;
    log.info({ outcome: outcome.kind }, 'authorization call ended');
    await this.d.steps.finishCall(paymentId, outcome, this.expired.has(paymentId));
  }
}
