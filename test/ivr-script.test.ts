import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { runAuthorizationScript } from '../src/ivr/script.js';
import { PHRASES } from '../src/ivr/say/index.js';
import type { Call, CollectResult } from '../src/telephony/engine.js';
import type { PinCheck } from '../src/payments/ports.js';
import { fakeCall as sharedFakeCall } from './helpers/fake-call.js';

/** The shared fake Call (test/helpers/fake-call.ts), with this file's inputs. */
function fakeCall(inputs: CollectResult[], opts: { hangUpAtPlay?: number } = {}) {
  return sharedFakeCall({ inputs, ...opts });
}

const digits = (d: string, terminator: string | null = '#'): CollectResult => ({ kind: 'digits', digits: d, reason: terminator ? 'terminator' : 'timeout', terminator });

function run(call: Call, checks: PinCheck[] = []) {
  const pins: string[] = [];
  const outcome = runAuthorizationScript(call, {
    prompts: { clip: (name) => `/p/${name}.wav` },
    amountClips: ['1', 'hundred', 'dollars'],
    merchantClip: '/voices/stall.wav',
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

const clip = (name: string) => `/p/${name}.wav`;

describe('authorization call script', () => {
  it('announces merchant and amount, collects the PIN, approves and says goodbye', async () => {
    const f = fakeCall([digits('482916')]);
    const r = run(f.call, ['ok']);
    expect(await r.outcome).toEqual({ kind: 'approved' });
    expect(r.pins).toEqual(['482916']);
    expect(f.played).toEqual([
      [clip(PHRASES.thisIs), clip(PHRASES.serviceName), '/voices/stall.wav', clip(PHRASES.requestsPaymentOf), clip('1'), clip('hundred'), clip('dollars'), clip(PHRASES.fraudHint)],
      [clip(PHRASES.enterPin)],
      [clip(PHRASES.approved), clip(PHRASES.goodbye)],
    ]);
    expect(f.hungUp()).toBe(true);
  });

  it('allows three tries, then declines as wrong_pin', async () => {
    const f = fakeCall([digits('1111'), digits('2222'), digits('3333')]);
    const r = run(f.call, ['wrong', 'wrong', 'wrong']);
    expect(await r.outcome).toEqual({ kind: 'wrong_pin' });
    expect(f.played.filter((p) => p[0] === clip(PHRASES.wrongPin))).toHaveLength(2);
    expect(f.played.at(-1)).toEqual([clip(PHRASES.declined), clip(PHRASES.goodbye)]);
  });

  it('approves on a second try after a wrong PIN', async () => {
    const f = fakeCall([digits('1111'), digits('482916')]);
    expect(await run(f.call, ['wrong', 'ok']).outcome).toEqual({ kind: 'approved' });
  });

  it('declines on "*" without checking a PIN', async () => {
    const f = fakeCall([digits('12', '*')]);
    const r = run(f.call);
    expect(await r.outcome).toEqual({ kind: 'declined' });
    expect(r.pins).toEqual([]);
  });

  it('repeats the prompt once on silence, then ends as no_input', async () => {
    const f = fakeCall([{ kind: 'no_input' }, { kind: 'no_input' }]);
    expect(await run(f.call).outcome).toEqual({ kind: 'no_input' });
    expect(f.played.filter((p) => p[0] === clip(PHRASES.enterPin))).toHaveLength(2);
    expect(f.played.at(-1)).toEqual([clip(PHRASES.noInput), clip(PHRASES.goodbye)]);
  });

  it('ends at once when the consumer gets locked', async () => {
    const f = fakeCall([digits('1111'), digits('482916')]);
    expect(await run(f.call, ['locked']).outcome).toEqual({ kind: 'locked' });
  });

  it('counts a too-short entry as a wrong try without verifying it', async () => {
    const f = fakeCall([digits('12'), digits('482916')]);
    const r = run(f.call, ['ok']);
    expect(await r.outcome).toEqual({ kind: 'approved' });
    expect(r.pins).toEqual(['482916']);
  });

  it('reports hung_up when the phone hangs up during the announcement or the input', async () => {
    expect(await run(fakeCall([], { hangUpAtPlay: 1 }).call).outcome).toEqual({ kind: 'hung_up' });
    expect(await run(fakeCall([{ kind: 'hung_up' }]).call).outcome).toEqual({ kind: 'hung_up' });
  });
});
