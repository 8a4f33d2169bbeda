import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createIvrAuthorizer } from '../src/ivr/authorizer.js';
import type { MachineDetectionConfig } from '../src/ivr/screen.js';
import type { CallEngine, CallRecord, ScreenOptions, ScreenResult } from '../src/telephony/engine.js';
import { fakeCall } from './helpers/fake-call.js';
import type { AuthorizationRequest } from '../src/payments/ports.js';
import type { CallProgress } from '../src/payments/progress.js';

const log = pino({ level: 'silent' });
const RULES: MachineDetectionConfig = { enabled: true, initialSilenceMs: 2000, maxGreetingMs: 2000, afterGreetingSilenceMs: 800, totalAnalysisMs: 3500, minWordMs: 100, maxWords: 4 };

/** An engine whose every dial is answered by a call that screens as `verdicts` say, in turn (none: no screen method). */
function engine(verdicts: Array<ScreenResult['verdict'] | 'no_screen'>) {
  const calls: Array<{ played: string[][]; screened: ScreenOptions[] }> = [];
  const e: CallEngine = {
    async dial() {
      const verdict = verdicts.shift() ?? 'human';
      const screened: ScreenOptions[] = [];
      const screen = (opts: ScreenOptions): ScreenResult => {
        screened.push(opts);
        return { verdict: verdict === 'no_screen' ? 'human' : verdict, reason: verdict === 'machine' ? 'long_greeting' : 'after_greeting_silence', elapsedMs: 2000, words: 3 };
      };
      const { call, played } = fakeCall({ callId: `c${calls.length + 1}`, ...(verdict === 'no_screen' ? {} : { screen }) });
      calls.push({ played, screened });
      return { kind: 'answered', call };
    },
    async close() {},
  };
  return { e, calls };
}

function request(records: Array<[number, CallRecord]>, progress: CallProgress[]): AuthorizationRequest {
  return {
    paymentId: 'pay_1', phone: '+886912345678', locale: 'en-US', merchantSpokenName: 'Stall', merchantVoiceClip: null, amount: 15000, currency: 'TWD',
    deadline: new Date(Date.now() + 60_000),
    verifyPin: async () => 'ok',
    mayDial: async () => null,
    onAttempt: (attempt, r) => records.push([attempt, r]),
    onProgress: (p) => progress.push(p),
    log,
    signal: new AbortController().signal,
  };
}

function authorizer(e: CallEngine, machineDetection: MachineDetectionConfig | undefined, retryAttempts = 2) {
  return createIvrAuthorizer({
    engine: e, prompts: () => ({ clip: (n) => `/p/${n}.wav` }), sayAmount: () => ['150'], pinTries: 3, firstDigitTimeoutMs: 1000, interDigitTimeoutMs: 1000,
    retryAttempts, retryDelayMs: 0, now: () => new Date(), ...(machineDetection ? { machineDetection } : {}),
  });
}

describe('voicemail guard in the IVR', () => {
  it('hangs up on a machine before anything is played, records machine_detected, retries, then ends as no answer', async () => {
    const { e, calls } = engine(['machine', 'machine']);
    const records: Array<[number, CallRecord]> = [];
    const progress: CallProgress[] = [];
    const outcome = await authorizer(e, RULES, 1).authorize(request(records, progress));
    expect(outcome).toEqual({ kind: 'no_answer' });
    expect(calls.map((c) => c.played)).toEqual([[], []]);
    const { enabled: _, ...rules } = RULES;
    expect(calls[0]!.screened).toEqual([rules]);
    const ended = records.filter(([, r]) => r.endedAt !== null);
    expect(ended.map(([a, r]) => [a, r.outcome, r.reason])).toEqual([[1, 'machine_detected', 'answering machine (long_greeting)'], [2, 'machine_detected', 'answering machine (long_greeting)']]);
    expect(progress.filter((p) => p.type !== 'dialing')).toEqual([
      { type: 'not_answered', attempt: 1, outcome: 'no_answer', retryInMs: 0 },
      { type: 'not_answered', attempt: 2, outcome: 'no_answer', retryInMs: null },
    ]);
  });

  it('a person on the retry: the call goes on as usual', async () => {
    const { e, calls } = engine(['machine', 'human']);
    const records: Array<[number, CallRecord]> = [];
    const progress: CallProgress[] = [];
    expect(await authorizer(e, RULES).authorize(request(records, progress))).toEqual({ kind: 'approved' });
    expect(calls[0]!.played).toEqual([]);
    expect(calls[1]!.played.length).toBeGreaterThan(0);
    expect(records.filter(([, r]) => r.endedAt !== null).map(([a, r]) => [a, r.outcome])).toEqual([[1, 'machine_detected'], [2, 'answered']]);
    expect(progress.map((p) => p.type)).toEqual(['dialing', 'not_answered', 'dialing', 'answered']);
  });

  it.each([
    ['off', { ...RULES, enabled: false }, ['human'] as const],
    ['absent', undefined, ['human'] as const],
    ['an engine that cannot listen', RULES, ['no_screen'] as const],
    ['undecided', RULES, ['unknown'] as const],
  ])('proceeds when the guard is %s', async (_name, config, verdicts) => {
    const { e, calls } = engine([...verdicts]);
    const records: Array<[number, CallRecord]> = [];
    expect(await authorizer(e, config).authorize(request(records, []))).toEqual({ kind: 'approved' });
    expect(calls[0]!.played.length).toBeGreaterThan(0);
    if (config?.enabled === false || config === undefined) expect(calls[0]!.screened).toEqual([]);
  });
});
