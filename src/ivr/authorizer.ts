import type { CallEngine, DialResult } from '../telephony/engine.js';
import type { CallAuthorizer, CallOutcome } from '../payments/ports.js';
import type { Locale } from '../domain/consumer.js';
import { MEDIA_TIMEOUT } from '../domain/call.js';
import { runAuthorizationScript, type ScriptPrompts } from './script.js';

export interface IvrAuthorizerDeps {
  engine: CallEngine;
  prompts(locale: Locale): ScriptPrompts;
  sayAmount(minor: number, currency: string, locale: Locale): string[];
  pinTries: number;
  firstDigitTimeoutMs: number;
  interDigitTimeoutMs: number;
  retryAttempts: number;
  retryDelayMs: number;
  now(): Date;
}

const NOT_ANSWERED: Record<Exclude<DialResult['kind'], 'answered'>, CallOutcome['kind']> = {
  busy: 'busy', no_answer: 'no_answer', rejected: 'rejected', failed: 'failed',
};

/**
 * The payment service's call port, over a real telephone engine: dials the enrolled number, retries
 * busy or unanswered phones within the payment's expiry, and runs the call script when answered.
 * Every dial attempt reports its own call record.
 */
export function createIvrAuthorizer(d: IvrAuthorizerDeps): CallAuthorizer {
  return {
    live: true,
    async authorize(req) {
      const attempts = 1 + d.retryAttempts;
      for (let attempt = 1; ; attempt++) {
        const log = req.log.child({ attempt });
        const refused = await req.mayDial(attempt);
        if (refused) {
          log.warn({ reason: refused }, 'dial refused by a call cap');
          return { kind: 'call_limit', reason: refused };
        }
        req.onProgress({ type: 'dialing', attempt });
        const dial = await d.engine.dial({ number: req.phone, log, signal: req.signal, onRinging: () => req.onProgress({ type: 'ringing', attempt }) });
        if (dial.kind === 'answered') {
          const { call } = dial;
          req.onAttempt(attempt, call.record());
          req.onProgress({ type: 'answered', attempt });
          let outcome: CallOutcome;
          try {
            outcome = await runAuthorizationScript(call, {
              prompts: d.prompts(req.locale),
              amountClips: d.sayAmount(req.amount, req.currency, req.locale),
              merchantClip: req.merchantVoiceClip,
              verifyPin: req.verifyPin,
              pinTries: d.pinTries,
              firstDigitTimeoutMs: d.firstDigitTimeoutMs,
              interDigitTimeoutMs: d.interDigitTimeoutMs,
              log: call.log,
            });
          } finally {
            await call.hangup();
          }
          const ended = await call.ended;
          req.onAttempt(attempt, ended);
          if (req.signal.aborted && outcome.kind !== 'approved') return { kind: 'hung_up' };
          // An answered call that the engine lost (not one the phone hung up): the media server or its
          // control connection went away mid-call.
          if (outcome.kind === 'hung_up' && ended.outcome === 'failed') {
            return ended.reason === MEDIA_TIMEOUT ? { kind: 'media_timeout' } : { kind: 'interrupted', reason: ended.reason ?? 'call lost' };
          }
          return outcome;
        }
        req.onAttempt(attempt, dial.record);
        const retryable = dial.kind === 'busy' || dial.kind === 'no_answer';
        const nextAt = d.now().getTime() + d.retryDelayMs;
        const last = !retryable || attempt >= attempts || nextAt >= req.deadline.getTime() || req.signal.aborted;
        req.onProgress({ type: 'not_answered', attempt, outcome: dial.kind, retryInMs: last ? null : d.retryDelayMs });
        if (last) {
          log.info({ outcome: dial.kind, sipStatus: dial.sipStatus }, 'call not answered');
          return dial.kind === 'failed' ? { kind: 'failed', reason: dial.reason, ...(dial.sipStatus ? { sipStatus: dial.sipStatus } : {}) } : ({ kind: NOT_ANSWERED[dial.kind] } as CallOutcome);
        }
        log.info({ outcome: dial.kind, retryInMs: d.retryDelayMs }, 'call not answered; retrying');
        await sleep(d.retryDelayMs, req.signal);
      }
    },
    async close() {
      await d.engine.close();
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
