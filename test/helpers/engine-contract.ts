import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { CallEngine, DialResult } from '../../src/telephony/engine.js';
import { pino } from 'pino';

/**
 * The CallEngine contract, run against every engine (CONVENTIONS/DESIGN: "both engines pass one contract
 * test suite"). A harness turns a phone plan into a real far end (sipp, the event-socket peer) and an
 * engine that dials it.
 */
export type PhonePlan =
  | { kind: 'answer'; keys?: { digits: string; when: 'during_announcement' | 'after_announcement'; gapMs?: number }; hangup?: 'during_announcement' }
  | { kind: 'busy' }
  | { kind: 'no_answer' };

export interface ContractHarness {
  /** The far end for this plan, and an engine ready to dial it. */
  phone(plan: PhonePlan): Promise<{ engine: CallEngine; number: string }>;
  /** Stops whatever `phone` started (each test owns its world). */
  cleanup(): Promise<void>;
  /** A short ring timeout that the phone's "no answer" exceeds. */
  noAnswerRingTimeoutMs: number;
}

export const log = pino({ level: 'silent' });
export const ANNOUNCEMENT = ['this-is.wav', 'service-name.wav', 'requests-payment-of.wav'].map((f) =>
  fileURLToPath(new URL(`../../prompts/en-US/ivr/${f}`, import.meta.url)),
);
const PIN = (over: Partial<{ maxDigits: number; firstDigitTimeoutMs: number; interDigitTimeoutMs: number }> = {}) => ({
  minDigits: 1, maxDigits: 8, terminators: '#', firstDigitTimeoutMs: 4000, interDigitTimeoutMs: 1500, ...over,
});

async function answered(engine: CallEngine, number: string): Promise<Extract<DialResult, { kind: 'answered' }>['call']> {
  const r = await engine.dial({ number, log });
  if (r.kind !== 'answered') throw new Error(`expected an answer, got ${r.kind}: ${r.reason}`);
  return r.call;
}

export function engineContract(name: string, harness: () => ContractHarness): void {
  describe(`CallEngine contract: ${name}`, () => {
    let h: ContractHarness;
    afterEach(async () => {
      await h?.cleanup();
    });
    const phone = (plan: PhonePlan) => {
      h = harness();
      return h.phone(plan);
    };

    it('answers; digits keyed during the announcement barge in and are collected up to the terminator', async () => {
      const { engine, number } = await phone({ kind: 'answer', keys: { digits: '4829#', when: 'during_announcement' } });
      const call = await answered(engine, number);
      const played = await call.play(ANNOUNCEMENT, { bargeIn: true });
      expect(played).toEqual({ kind: 'interrupted', by: 'digit' });
      expect(await call.collect(PIN())).toEqual({ kind: 'digits', digits: '4829', reason: 'terminator', terminator: '#' });
      await call.hangup();
      const rec = await call.ended;
      expect(rec.outcome).toBe('answered');
      expect(rec.digitCount).toBe(5);
      expect(rec.endedAt).not.toBeNull();
    });

    it('plays the whole announcement when nothing is keyed, then collects digits keyed after it', async () => {
      const { engine, number } = await phone({ kind: 'answer', keys: { digits: '1234#', when: 'after_announcement' } });
      const call = await answered(engine, number);
      expect(await call.play(ANNOUNCEMENT, { bargeIn: true })).toEqual({ kind: 'completed' });
      expect(await call.collect(PIN())).toEqual({ kind: 'digits', digits: '1234', reason: 'terminator', terminator: '#' });
      await call.hangup();
    });

    it('without barge-in the announcement plays on, and the digits keyed meanwhile are kept for the collect', async () => {
      const { engine, number } = await phone({ kind: 'answer', keys: { digits: '77#', when: 'during_announcement' } });
      const call = await answered(engine, number);
      expect(await call.play(ANNOUNCEMENT, { bargeIn: false })).toEqual({ kind: 'completed' });
      expect(await call.collect(PIN())).toEqual({ kind: 'digits', digits: '77', reason: 'terminator', terminator: '#' });
      await call.hangup();
    });

    it('first-digit timeout: nothing keyed → no_input', async () => {
      const { engine, number } = await phone({ kind: 'answer' });
      const call = await answered(engine, number);
      const t0 = Date.now();
      expect(await call.collect(PIN({ firstDigitTimeoutMs: 800 }))).toEqual({ kind: 'no_input' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
      await call.hangup();
    });

    it('inter-digit timeout: the digits so far, reason timeout; max digits ends input at once', async () => {
      const { engine, number } = await phone({ kind: 'answer', keys: { digits: '12', when: 'after_announcement' } });
      const call = await answered(engine, number);
      expect(await call.play(ANNOUNCEMENT, { bargeIn: true })).toEqual({ kind: 'completed' });
      expect(await call.collect(PIN({ interDigitTimeoutMs: 800 }))).toEqual({ kind: 'digits', digits: '12', reason: 'timeout', terminator: null });
      await call.hangup();
    });

    it('max digits ends input without a terminator', async () => {
      const { engine, number } = await phone({ kind: 'answer', keys: { digits: '5678', when: 'after_announcement' } });
      const call = await answered(engine, number);
      expect(await call.play(ANNOUNCEMENT, { bargeIn: true })).toEqual({ kind: 'completed' });
      expect(await call.collect(PIN({ maxDigits: 4 }))).toEqual({ kind: 'digits', digits: '5678', reason: 'max_digits', terminator: null });
      await call.hangup();
    });

    it('busy → a busy result, not an exception', async () => {
      const { engine, number } = await phone({ kind: 'busy' });
      const r = await engine.dial({ number, log });
      expect(r.kind).toBe('busy');
      if (r.kind !== 'answered') expect(r.record.answeredAt).toBeNull();
    });

    it('no answer within the ring timeout → no_answer', async () => {
      const { engine, number } = await phone({ kind: 'no_answer' });
      const r = await engine.dial({ number, log, ringTimeoutMs: h.noAnswerRingTimeoutMs });
      expect(r.kind).toBe('no_answer');
    });

    it('the phone hangs up during the announcement: play → hung_up, the call ends as hung_up', async () => {
      const { engine, number } = await phone({ kind: 'answer', hangup: 'during_announcement' });
      const call = await answered(engine, number);
      expect(await call.play(ANNOUNCEMENT, { bargeIn: true })).toEqual({ kind: 'hung_up' });
      expect((await call.ended).outcome).toBe('hung_up');
      expect(await call.collect(PIN())).toEqual({ kind: 'hung_up' });
    });

    it('callpay hangs up: the call ends as answered, and hangup is idempotent', async () => {
      const { engine, number } = await phone({ kind: 'answer' });
      const call = await answered(engine, number);
      await call.hangup();
      await call.hangup();
      const rec = await call.ended;
      expect(rec.outcome).toBe('answered');
      expect(await call.play(ANNOUNCEMENT, { bargeIn: true })).toEqual({ kind: 'hung_up' });
    });
  });
}
