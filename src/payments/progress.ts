import type { FailureCode, PaymentStatus } from '../domain/payment.js';
import type { PinCheck } from './ports.js';

/** What a consumer watching the checkout page may learn about their call, as it happens. */
export type CallProgress =
  | { type: 'dialing'; attempt: number }
  | { type: 'ringing'; attempt: number }
  | { type: 'answered'; attempt: number }
  | { type: 'not_answered'; attempt: number; outcome: 'busy' | 'no_answer' | 'rejected' | 'failed'; retryInMs: number | null }
  | { type: 'pin'; result: PinCheck }
  | { type: 'status'; status: PaymentStatus; failureCode: FailureCode | null };

export type ProgressEvent = CallProgress & { at: string };

const KEEP_PER_PAYMENT = 50;
const KEEP_PAYMENTS = 10_000;

/**
 * In-process fan-out of call progress per payment (for server-sent events), with the recent events
 * kept so a page that connects late, or polls, still sees what happened. Memory is bounded.
 */
export class ProgressHub {
  private readonly recentByPayment = new Map<string, ProgressEvent[]>();
  private readonly listeners = new Map<string, Set<(e: ProgressEvent) => void>>();
  private readonly observers = new Set<(paymentId: string, e: ProgressEvent) => void>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  publish(paymentId: string, progress: CallProgress): void {
    const event: ProgressEvent = { ...progress, at: this.now().toISOString() };
    this.keep(paymentId, event);
    for (const listener of this.listeners.get(paymentId) ?? []) listener(event);
    for (const observer of this.observers) observer(paymentId, event);
  }

  private keep(paymentId: string, event: ProgressEvent): void {
    let list = this.recentByPayment.get(paymentId);
    if (!list) {
      if (this.recentByPayment.size >= KEEP_PAYMENTS) {
        const oldest = this.recentByPayment.keys().next().value;
        if (oldest !== undefined) this.recentByPayment.delete(oldest);
      }
      list = [];
      this.recentByPayment.set(paymentId, list);
    }
    list.push(event);
    if (list.length > KEEP_PER_PAYMENT) list.shift();
  }

  /**
   * An event another node published (a call it runs, a page served here): kept and sent to this
   * node's listeners, never to the observers, which count only what happens on this node.
   */
  publishRemote(paymentId: string, event: ProgressEvent): void {
    this.keep(paymentId, event);
    for (const listener of this.listeners.get(paymentId) ?? []) listener(event);
  }

  /** Every payment's events (metrics); returns an unsubscribe function. */
  observe(observer: (paymentId: string, e: ProgressEvent) => void): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Returns an unsubscribe function. */
  subscribe(paymentId: string, listener: (e: ProgressEvent) => void): () => void {
    let set = this.listeners.get(paymentId);
    if (!set) {
      set = new Set();
      this.listeners.set(paymentId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(paymentId);
    };
  }

  recent(paymentId: string): ProgressEvent[] {
    return [...(this.recentByPayment.get(paymentId) ?? [])];
  }
}
