import type { CollectOptions, CollectResult, Digit } from '../engine.js';
import { MediaError } from './errors.js';

/** Injected time source, so the collector is tested without waiting. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  now: () => performance.now(),
};

interface Pending {
  opts: CollectOptions;
  digits: string;
  timer: unknown;
  resolve(result: CollectResult): void;
}

/**
 * Digit collection with FreeSWITCH play_and_get_digits / VoiceXML semantics, over one call's stream of
 * digits (RFC 4733 and SIP INFO alike). Pure: no sockets, time is injected.
 *
 * - Digits arriving at any time are buffered, including during a prompt (barge-in keeps them), and
 *   are consumed first by the next `collect`.
 * - The first-digit timer runs from the call to `collect`; after each digit the inter-digit timer
 *   restarts. First-digit timeout with nothing keyed → `no_input`; inter-digit timeout → the digits so
 *   far, reason `timeout`.
 * - A terminator ends input and is not part of `digits`. As in FreeSWITCH's collect loop, the
 *   terminator is honoured whatever the count: a terminator alone, or with fewer than `minDigits`,
 *   returns those digits ('' alone) with reason `terminator`. Judging a short entry (retry, "invalid")
 *   is the caller's business, since only it knows whether '*'-to-cancel or '#'-alone mean something.
 *   Likewise a timeout with fewer than `minDigits` returns them with reason `timeout`.
 * - Reaching `maxDigits` ends input at once. A terminator keyed right after that (the next key, within
 *   the inter-digit timeout) is swallowed: "1234#" against maxDigits 4 must not leave a '#' that would
 *   end the next collect empty-handed. Any other further digits stay buffered for the next collect.
 * - `hangUp()` resolves a pending collect, and every later one, with `hung_up`.
 */
export class DigitCollector {
  private buffer: Digit[] = [];
  private pending: Pending | null = null;
  private hungUp = false;
  /** Terminators to swallow after a max_digits completion, until `until`. */
  private swallow: { terminators: string; until: number } | null = null;

  constructor(private readonly timers: Timers = systemTimers) {}

  push(digit: Digit): void {
    if (this.hungUp) return;
    if (this.swallowed(digit)) return;
    this.buffer.push(digit);
    if (this.pending) this.drain(this.pending);
  }

  collect(opts: CollectOptions): Promise<CollectResult> {
    try {
      checkOptions(opts);
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.pending) return Promise.reject(new MediaError('invalid_state', 'a collect is already in progress'));
    if (this.hungUp) return Promise.resolve({ kind: 'hung_up' });
    return new Promise((resolve) => {
      const p: Pending = { opts, digits: '', timer: undefined, resolve };
      this.pending = p;
      this.drain(p);
    });
  }

  hangUp(): void {
    this.hungUp = true;
    this.buffer = [];
    const p = this.pending;
    if (p) this.finish(p, { kind: 'hung_up' });
  }

  /** Drops buffered digits (VoiceXML's flush, e.g. before re-prompting after an invalid entry). */
  clear(): void {
    this.buffer = [];
    this.swallow = null;
  }

  /** Digits keyed and not yet collected. */
  get buffered(): number {
    return this.buffer.length;
  }

  private drain(p: Pending): void {
    const { terminators, maxDigits } = p.opts;
    let took = false;
    while (this.pending === p) {
      const d = this.buffer.shift();
      if (d === undefined) break;
      took = true;
      if (terminators.includes(d)) {
        this.finish(p, { kind: 'digits', digits: p.digits, reason: 'terminator', terminator: d });
      } else {
        p.digits += d;
        if (p.digits.length >= maxDigits) {
          this.finish(p, { kind: 'digits', digits: p.digits, reason: 'max_digits', terminator: null });
          this.swallow = { terminators, until: this.timers.now() + p.opts.interDigitTimeoutMs };
          const next = this.buffer[0];
          if (next !== undefined && this.swallowed(next)) this.buffer.shift();
        }
      }
    }
    if (this.pending !== p) return;
    if (p.timer !== undefined && !took) return; // nothing new: keep the running timer
    if (p.timer !== undefined) this.timers.clearTimeout(p.timer);
    const first = p.digits.length === 0;
    p.timer = this.timers.setTimeout(
      () => {
        p.timer = undefined;
        this.finish(p, first ? { kind: 'no_input' } : { kind: 'digits', digits: p.digits, reason: 'timeout', terminator: null });
      },
      first ? p.opts.firstDigitTimeoutMs : p.opts.interDigitTimeoutMs,
    );
  }

  private swallowed(digit: Digit): boolean {
    const s = this.swallow;
    if (!s) return false;
    this.swallow = null; // only the very next key may be swallowed
    return s.terminators.includes(digit) && this.timers.now() <= s.until;
  }

  private finish(p: Pending, result: CollectResult): void {
    if (this.pending !== p) return;
    this.pending = null;
    if (p.timer !== undefined) this.timers.clearTimeout(p.timer);
    p.timer = undefined;
    p.resolve(result);
  }
}

function checkOptions(o: CollectOptions): void {
  const bad = (what: string) => new MediaError('invalid_state', `collect: ${what}`);
  const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;
  if (!isCount(o.minDigits) || !isCount(o.maxDigits) || o.maxDigits < 1 || o.minDigits > o.maxDigits) {
    throw bad('need 0 <= minDigits <= maxDigits and maxDigits >= 1');
  }
  if (!isCount(o.firstDigitTimeoutMs) || !isCount(o.interDigitTimeoutMs)) throw bad('timeouts must be integers >= 0 (ms)');
  for (const t of o.terminators) if (!'0123456789*#ABCD'.includes(t)) throw bad(`terminator "${t}" is not a DTMF key`);
}
