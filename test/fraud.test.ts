import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { fraudWindowStart, isFraudReportEntry, merchantDisableDue, NO_AUTO_DISABLE } from '../src/domain/fraud.js';
import { decide, type CarrierCeilings } from '../src/domain/policy.js';
import { DEFAULT_POLICY } from '../src/domain/consumer.js';
import { runAuthorizationScript } from '../src/ivr/script.js';
import { PHRASES } from '../src/ivr/say/index.js';
import type { Call, CollectResult } from '../src/telephony/engine.js';
import { fakeCall as sharedFakeCall } from './helpers/fake-call.js';

/**
 * The fraud key's rules (issue 16, item 1) without a socket: which entries are a report, when a
 * merchant is disabled, what a locked allowance asks for, and the call script's part. Against a real
 * phone (sipp): e2e-fraud.test.ts.
 */

describe('the fraud key', () => {
  it('is an entry of exactly "0", ended by "#" or by the digit timeout', () => {
    expect(isFraudReportEntry('0', '#')).toBe(true);
    expect(isFraudReportEntry('0', null)).toBe(true);
  });

  it('never eats a PIN that starts with 0, nor another short entry', () => {
    for (const pin of ['0123', '0000', '00', '01', '4829', '']) expect(isFraudReportEntry(pin, '#'), pin).toBe(false);
    expect(isFraudReportEntry('0123', null)).toBe(false);
  });

  it('leaves "*" to decline: "0*" is a decline, not a report', () => {
    expect(isFraudReportEntry('0', '*')).toBe(false);
  });
});

describe('merchant auto-disable', () => {
  const policy = { disableMerchantAfter: 3, windowHours: 24 };

  it('is due once the reports in the window reach the configured number', () => {
    expect(merchantDisableDue(2, policy)).toBe(false);
    expect(merchantDisableDue(3, policy)).toBe(true);
    expect(merchantDisableDue(7, policy)).toBe(true);
  });

  it('never happens with 0 (the default)', () => {
    expect(merchantDisableDue(1_000, NO_AUTO_DISABLE)).toBe(false);
    expect(merchantDisableDue(5, { disableMerchantAfter: 0, windowHours: 1 })).toBe(false);
  });

  it('counts from windowHours before now', () => {
    expect(fraudWindowStart(new Date('2026-12-01T12:00:00.000Z'), policy)).toBe('2026-11-30T12:00:00.000Z');
    expect(fraudWindowStart(new Date('2026-12-01T12:00:00.000Z'), { disableMerchantAfter: 1, windowHours: 1 })).toBe('2026-12-01T11:00:00.000Z');
  });
});

describe('a locked frictionless allowance', () => {
  const ceilings: CarrierCeilings = { callAlwaysAbove: 100_000, maxSinglePayment: 500_000, frictionlessMaxAmount: null, frictionlessMaxCount: null };
  const relaxed = { ...DEFAULT_POLICY, passwordAbove: 50_000, callAbove: 50_000 };
  const input = { amount: 1_000, policy: relaxed, ceilings, usage: { amount: 0, count: 0 } };

  it('skips nothing: the password (when there is one) and the call', () => {
    expect(decide({ ...input, hasPassword: true, allowanceLocked: false })).toMatchObject({ allowed: true, steps: [] });
    expect(decide({ ...input, hasPassword: true, allowanceLocked: true })).toMatchObject({ allowed: true, steps: ['password', 'call'] });
    expect(decide({ ...input, hasPassword: false, allowanceLocked: true })).toMatchObject({ allowed: true, steps: ['call'] });
  });

  it('does not lift the carrier maximum', () => {
    expect(decide({ ...input, amount: 600_000, hasPassword: true, allowanceLocked: true })).toMatchObject({ allowed: false, code: 'amount_too_large' });
  });
});

/** The shared fake Call (test/helpers/fake-call.ts), with this file's inputs. */
function fakeCall(inputs: CollectResult[], opts: { hangUpAtPlay?: number } = {}) {
  return sharedFakeCall({ inputs, ...opts });
}

const entry = (digits: string, terminator: string | null = '#'): CollectResult => ({ kind: 'digits', digits, reason: terminator ? 'terminator' : 'timeout', terminator });
const clip = (name: string) => `/p/${name}.wav`;

function run(call: Call, checks: Array<'ok' | 'wrong'> = []) {
  const pins: string[] = [];
  const outcome = runAuthorizationScript(call, {
    prompts: { clip },
    amountClips: ['1', 'hundred', 'dollars'],
    merchantClip: null,
    verifyPin: async (pin) => {
      pins.push(pin);
      return checks.shift() ?? 'wrong';
    },
    pinTries: 3,
    firstDigitTimeoutMs: 5000,
    interDigitTimeoutMs: 3000,
    log: pino({ level: 'silent' }),
  });
  return { outcome, pins };
}

describe('the call script and the fraud key', () => {
  it('ends the announcement with "if you did not start this payment, press 0"', async () => {
    const f = fakeCall([entry('482916')]);
    await run(f.call, ['ok']).outcome;
    expect(f.played[0]?.at(-1)).toBe(clip(PHRASES.fraudHint));
  });

  it('reports on "0" then "#": no PIN checked, confirmed aloud, hung up', async () => {
    const f = fakeCall([entry('0')]);
    const r = run(f.call);
    expect(await r.outcome).toEqual({ kind: 'fraud_reported' });
    expect(r.pins).toEqual([]);
    expect(f.played.at(-1)).toEqual([clip(PHRASES.fraudReported), clip(PHRASES.goodbye)]);
    expect(f.hungUp()).toBe(true);
  });

  it('reports on a lone "0" ended by the digit timeout (e.g. keyed during the announcement)', async () => {
    expect(await run(fakeCall([entry('0', null)]).call).outcome).toEqual({ kind: 'fraud_reported' });
  });

  it('reports at a later try too, after a wrong PIN', async () => {
    const f = fakeCall([entry('1111'), entry('0')]);
    const r = run(f.call, ['wrong']);
    expect(await r.outcome).toEqual({ kind: 'fraud_reported' });
    expect(r.pins).toEqual(['1111']);
  });

  it('checks a PIN that starts with 0 as a PIN', async () => {
    const r = run(fakeCall([entry('0123')]).call, ['ok']);
    expect(await r.outcome).toEqual({ kind: 'approved' });
    expect(r.pins).toEqual(['0123']);
  });

  it('keeps "0*" a decline', async () => {
    expect(await run(fakeCall([entry('0', '*')]).call).outcome).toEqual({ kind: 'declined' });
  });

  it('keeps the report when the phone hangs up during the confirmation', async () => {
    // plays: announcement, PIN prompt, confirmation (hung up)
    expect(await run(fakeCall([entry('0')], { hangUpAtPlay: 3 }).call).outcome).toEqual({ kind: 'fraud_reported' });
  });
});
