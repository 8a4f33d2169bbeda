import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createIvrAuthorizer } from '../src/ivr/authorizer.js';
import type { AmountPhrases } from '../src/ivr/amount-phrase.js';
import type { CallEngine } from '../src/telephony/engine.js';
import { fakeCall } from './helpers/fake-call.js';
import type { AuthorizationRequest } from '../src/payments/ports.js';

const log = pino({ level: 'silent' });

/** An engine whose one dial is answered (by the shared fake call) when the test says so. */
function engine() {
  const { call, played } = fakeCall();
  let answer!: () => void;
  const answered = new Promise<void>((r) => (answer = r));
  let dialled!: () => void;
  const dialling = new Promise<void>((r) => (dialled = r));
  const e: CallEngine = {
    async dial() {
      dialled();
      await answered;
      return { kind: 'answered', call };
    },
    async close() {},
  };
  return { e, played, answer, dialling };
}

/** Phrases rendered when the test says so. */
function phrases() {
  let done!: (file: string | null) => void;
  const rendered = new Promise<string | null>((r) => (done = r));
  const p: AmountPhrases = { render: () => rendered };
  return { p, done };
}

function request(): AuthorizationRequest {
  return {
    paymentId: 'pay_1', phone: '+886912345678', locale: 'zh-TW', merchantSpokenName: 'Stall', merchantVoiceClip: null, amount: 15000, currency: 'TWD',
    deadline: new Date(Date.now() + 60_000),
    verifyPin: async () => 'ok',
    mayDial: async () => null,
    onAttempt: () => undefined,
    onProgress: () => undefined,
    log,
    signal: new AbortController().signal,
  };
}

const authorizer = (e: CallEngine, amountPhrases: AmountPhrases) =>
  createIvrAuthorizer({
    engine: e, prompts: () => ({ clip: (n) => `/p/${n}.wav` }), sayAmount: () => ['digits/150', 'currency/twd'], amountPhrases,
    pinTries: 3, firstDigitTimeoutMs: 1000, interDigitTimeoutMs: 1000, retryAttempts: 0, retryDelayMs: 0, now: () => new Date(),
  });

describe('the zh-TW amount phrase on a call (issue 17 item 3)', () => {
  it('is rendered while the phone rings: the dial does not wait for it, and the answered call says it', async () => {
    const { e, played, answer, dialling } = engine();
    const { p, done } = phrases();
    const outcome = authorizer(e, p).authorize(request());
    await dialling; // dialled with the rendering still in progress
    done('/cache/amount-15000.wav');
    await new Promise((r) => setImmediate(r));
    answer();
    expect(await outcome).toEqual({ kind: 'approved' });
    expect(played[0]).toContain('/cache/amount-15000.wav');
    expect(played[0]).not.toContain('/p/digits/150.wav');
  });

  it('not ready when the phone answers: the call says the amount clip by clip rather than wait', async () => {
    const { e, played, answer, dialling } = engine();
    const { p } = phrases(); // never rendered
    const outcome = authorizer(e, p).authorize(request());
    await dialling;
    answer();
    expect(await outcome).toEqual({ kind: 'approved' });
    expect(played[0]).toEqual(expect.arrayContaining(['/p/digits/150.wav', '/p/currency/twd.wav']));
  });
});
