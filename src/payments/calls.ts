import type { Logger } from '../log.js';
import type { Payment } from '../domain/payment.js';
import type { Consumer } from '../domain/consumer.js';
import type { Merchant } from '../domain/merchant.js';
import type { CallRecord } from '../domain/call.js';
import type { ProgressHub } from './progress.js';
import type { CallAuthorizer, CallOutcome, PinCheck, PreDialCheck, PreDialVerdict } from './ports.js';

/** Tries at recording a call's outcome (backoff 0.2, 0.4, 0.8, 1.6 s between them). */
const FINISH_ATTEMPTS = 5;

/** What a call needs to know about its payment. */
export interface CallSubject {
  payment: Payment;
  consumer: Consumer;
  merchant: Merchant;
}

/** The payment service's steps a call goes through: every state change during a call is one of these. */
export interface CallSteps {
  /** The payment, its consumer and merchant, if it is still in the call step (and this node holds its lease, taken here unless `leased`). */
  beginCall(paymentId: string, leased: boolean): Promise<CallSubject | undefined>;
  /** Checks the call caps and, when under them, counts this dial: null = dial; else why not. */
  mayDial(paymentId: string, attempt: number): Promise<string | null>;
  recordAttempt(paymentId: string, attempt: number, record: CallRecord): Promise<void>;
  checkPin(consumerId: string, paymentId: string, pin: string): Promise<PinCheck>;
  /** Extends this node's leases on its calls in flight; the ids it still owns (a call not among them was taken over). */
  renewLeases(paymentIds: readonly string[]): Promise<string[]>;
  finishCall(paymentId: string, outcome: CallOutcome, expired: boolean): Promise<void>;
  /** Acts on the pre-dial check's verdict: 'dial', or 'stop' when the payment left the call step. */
  afterPreDial(paymentId: string, verdict: PreDialVerdict): Promise<'dial' | 'stop'>;
}

/** What the transaction that entered the call step already did for the call (PaymentService.prepareCall). */
export interface PreparedCall {
  /** This node holds the call's lease. */
  leased: boolean;
  /** The first dial is counted against the call caps. */
  firstDialCounted: boolean;
  /** What the call needs, read in that transaction (the payment is in the call step and leased here). */
  subject?: CallSubject;
}

const NOTHING_PREPARED: PreparedCall = { leased: false, firstDialCounted: false };

export interface CallRunnerDeps {
  authorizer: CallAuthorizer;
  steps: CallSteps;
  progress: ProgressHub;
  log: Logger;
  /** How often the leases of the calls in flight are renewed (a third of their length). */
  renewEveryMs: number;
  /** Asked before the first dial (the pre-dial risk check); none = dial. */
  preDial?: PreDialCheck;
}

/**
 * Runs authorization calls outside any transaction, one per payment, and hands their outcome to
 * the payment service. Tracks calls in flight so they can be expired or drained on stop.
 */
export class CallRunner {
  private readonly inFlight = new Map<string, { done: Promise<void>; abort: AbortController }>();
  private readonly expired = new Set<string>();
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(private readonly d: CallRunnerDeps) {}

  start(paymentId: string, prepared: PreparedCall = NOTHING_PREPARED): void {
    if (this.inFlight.has(paymentId)) return;
    this.renewTimer ??= setInterval(() => void this.renew(), this.d.renewEveryMs).unref();
    const abort = new AbortController();
    const done = this.run(paymentId, abort.signal, prepared)
      .catch((e: unknown) => this.d.log.error({ paymentId, err: e }, 'call handling failed'))
      .finally(() => {
        this.inFlight.delete(paymentId);
        this.expired.delete(paymentId);
        if (this.inFlight.size === 0) this.renewTimer = void clearInterval(this.renewTimer);
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

  /**
   * Keeps this node's calls its own. A call whose lease another node has taken (this node was cut off
   * from the database for longer than a lease) has been resolved there: hang it up here.
   */
  private async renew(): Promise<void> {
    const ids = [...this.inFlight.keys()];
    if (ids.length === 0) return;
    try {
      const owned = new Set(await this.d.steps.renewLeases(ids));
      for (const id of ids) {
        if (owned.has(id) || !this.inFlight.has(id)) continue;
        this.d.log.warn({ paymentId: id }, 'call lease lost to another node; hanging up');
        this.inFlight.get(id)?.abort.abort();
      }
    } catch (e) {
      this.d.log.warn({ err: e }, 'call leases not renewed (database unreachable?)');
    }
  }

  /** Lets in-flight calls finish (graceful stop); `abortAfterMs` hangs up the ones that take too long. */
  async drain(abortAfterMs: number): Promise<void> {
    const timer = setTimeout(() => this.inFlight.forEach((c) => c.abort.abort()), abortAfterMs);
    await Promise.allSettled([...this.inFlight.values()].map((c) => c.done));
    clearTimeout(timer);
  }

  private async run(paymentId: string, signal: AbortSignal, prepared: PreparedCall): Promise<void> {
    const subject = prepared.leased && prepared.subject ? prepared.subject : await this.d.steps.beginCall(paymentId, prepared.leased);
    if (!subject) return;
    const { payment, consumer, merchant } = subject;
    const log = this.d.log.child({ paymentId });
    if (this.d.preDial && !signal.aborted) {
      const verdict = await this.d.preDial.check(
        { paymentId, merchantId: payment.merchantId, phone: consumer.phone, amount: payment.amount, currency: payment.currency, live: this.d.authorizer.live },
        log,
        signal,
      );
      if (!signal.aborted && (await this.d.steps.afterPreDial(paymentId, verdict)) === 'stop') return;
    }
    if (signal.aborted) {
      // Expired (or taken over) before the engine was reached: never dial for it.
      await this.d.steps.finishCall(paymentId, { kind: 'failed', reason: 'ended before dialling' }, this.expired.has(paymentId));
      return;
    }
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
        mayDial: (attempt) => (attempt === 1 && prepared.firstDialCounted ? Promise.resolve(null) : this.d.steps.mayDial(paymentId, attempt)),
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
    await this.finish(paymentId, outcome, log);
  }

  /**
   * The outcome must reach the database: a transient failure (the database busy beyond its timeout)
   * would otherwise leave the payment in its call step until a restart. finishCall is safe to repeat
   * (it acts only while the payment is still calling; the charge is idempotent).
   */
  private async finish(paymentId: string, outcome: CallOutcome, log: Logger): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.d.steps.finishCall(paymentId, outcome, this.expired.has(paymentId));
        return;
      } catch (e) {
        if (attempt >= FINISH_ATTEMPTS) throw e;
        log.warn({ err: e, attempt }, 'recording the call outcome failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }
}
