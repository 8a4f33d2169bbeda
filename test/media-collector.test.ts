import { describe, expect, it } from 'vitest';
import type { CollectOptions, Digit } from '../src/telephony/engine.js';
import { DigitCollector, type Timers } from '../src/telephony/media/collector.js';

/** A manual clock: timers fire only when the test advances time. */
function manualTimers() {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const t: Timers & { advance(ms: number): Promise<void> } = {
    now: () => now,
    setTimeout(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout(h) {
      timers.delete(h as number);
    },
    async advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, v]) => v.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        now = due[1].at;
        due[1].fn();
      }
      now = until;
      await Promise.resolve();
    },
  };
  return t;
}

const PIN: CollectOptions = { minDigits: 4, maxDigits: 6, terminators: '#', firstDigitTimeoutMs: 5000, interDigitTimeoutMs: 3000 };

function setup() {
  const timers = manualTimers();
  const c = new DigitCollector(timers);
  const keys = (s: string) => [...s].forEach((d) => c.push(d as Digit));
  return { timers, c, keys };
}

/** Settles the promise state without waiting on real time. */
async function peek<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setImmediate(() => r('pending')))]);
}

describe('digit collector', () => {
  it('ends on the terminator, which is not part of the digits', async () => {
    const { c, keys } = setup();
    const r = c.collect(PIN);
    keys('1234#');
    expect(await r).toEqual({ kind: 'digits', digits: '1234', reason: 'terminator', terminator: '#' });
  });

  it('returns a lone terminator (or too few digits) as they are, for the caller to judge', async () => {
    const { c, keys } = setup();
    const r1 = c.collect(PIN);
    keys('#');
    expect(await r1).toEqual({ kind: 'digits', digits: '', reason: 'terminator', terminator: '#' });
    const r2 = c.collect({ ...PIN, terminators: '#*' });
    keys('12*');
    expect(await r2).toEqual({ kind: 'digits', digits: '12', reason: 'terminator', terminator: '*' });
  });

  it('ends at max digits and keeps further digits for the next collect', async () => {
    const { c, keys, timers } = setup();
    keys('12345678'); // typed ahead, e.g. during the prompt
    expect(await c.collect(PIN)).toEqual({ kind: 'digits', digits: '123456', reason: 'max_digits', terminator: null });
    expect(c.buffered).toBe(2);
    const r = c.collect({ ...PIN, maxDigits: 1, minDigits: 1 });
    expect(await r).toEqual({ kind: 'digits', digits: '7', reason: 'max_digits', terminator: null });
    await timers.advance(10_000);
    expect(c.buffered).toBe(1);
  });

  it('swallows a terminator keyed right after max digits', async () => {
    const { c, keys, timers } = setup();
    keys('123456#');
    expect(await c.collect(PIN)).toMatchObject({ digits: '123456', reason: 'max_digits' });
    expect(c.buffered).toBe(0);
    // Also when the '#' comes after the collect returned, within the inter-digit timeout...
    const r = c.collect(PIN);
    keys('654321');
    expect(await r).toMatchObject({ digits: '654321', reason: 'max_digits' });
    await timers.advance(1000);
    keys('#');
    expect(c.buffered).toBe(0);
    // ...but not later, and only once.
    const r2 = c.collect({ ...PIN, maxDigits: 1, minDigits: 1 });
    keys('9');
    await r2;
    await timers.advance(4000);
    keys('#');
    expect(c.buffered).toBe(1);
  });

  it('returns no_input when the first digit does not come in time', async () => {
    const { c, timers } = setup();
    const r = c.collect(PIN);
    await timers.advance(4999);
    expect(await peek(r)).toBe('pending');
    await timers.advance(1);
    expect(await r).toEqual({ kind: 'no_input' });
  });

  it('returns the digits so far on an inter-digit timeout, restarting the timer on each digit', async () => {
    const { c, keys, timers } = setup();
    const r = c.collect(PIN);
    await timers.advance(4000);
    keys('1');
    await timers.advance(2900);
    keys('2');
    await timers.advance(2900);
    expect(await peek(r)).toBe('pending');
    await timers.advance(100);
    expect(await r).toEqual({ kind: 'digits', digits: '12', reason: 'timeout', terminator: null });
  });

  it('keeps digits keyed during a prompt (barge-in) for the next collect', async () => {
    const { c, keys, timers } = setup();
    keys('98');
    await timers.advance(60_000); // long prompt: buffered digits do not time out
    const r = c.collect(PIN);
    keys('76#');
    expect(await r).toEqual({ kind: 'digits', digits: '9876', reason: 'terminator', terminator: '#' });
  });

  it('resolves a pending collect, and later ones, with hung_up', async () => {
    const { c, keys } = setup();
    const r = c.collect(PIN);
    keys('12');
    c.hangUp();
    expect(await r).toEqual({ kind: 'hung_up' });
    keys('3456#');
    expect(await c.collect(PIN)).toEqual({ kind: 'hung_up' });
  });

  it('rejects misuse', async () => {
    const { c } = setup();
    await expect(c.collect({ ...PIN, minDigits: 7 })).rejects.toMatchObject({ code: 'invalid_state' });
    await expect(c.collect({ ...PIN, terminators: 'x' })).rejects.toMatchObject({ code: 'invalid_state' });
    void c.collect(PIN);
    await expect(c.collect(PIN)).rejects.toMatchObject({ code: 'invalid_state' });
  });

  it('flushes the buffer on clear()', async () => {
    const { c, keys } = setup();
    keys('12');
    c.clear();
    const r = c.collect({ ...PIN, maxDigits: 1, minDigits: 1 });
    keys('5');
    expect(await r).toMatchObject({ digits: '5' });
  });
});
