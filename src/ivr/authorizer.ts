import type { Call, CallEngine, DialResult, NotAnswered } from '../telephony/engine.js';
import type { CallAuthorizer, CallOutcome } from '../payments/ports.js';
import type { Locale } from '../domain/consumer.js';
import { MEDIA_TIMEOUT } from '../domain/call.js';
import { runAuthorizationScript, type ScriptPrompts } from './script.js';
import { screenGreeting, type MachineDetectionConfig } from './screen.js';
import type { AmountPhrases } from './amount-phrase.js';

export interface IvrAuthorizerDeps {
  engine: CallEngine;
  prompts(locale: Locale): ScriptPrompts;
  sayAmount(minor: number, currency: string, locale: Locale): string[];
  /** Amounts as one rendered phrase where the locale reads them so (zh-TW); absent or null = clip by clip. */
  amountPhrases?: AmountPhrases;
  pinTries: number;
  firstDigitTimeoutMs: number;
  interDigitTimeoutMs: number;
  retryAttempts: number;
  retryDelayMs: number;
  /** Config `risk.sipForwarding`: a call forwarded away from the enrolled line is refused (never announced) or carried on. */
  forwarding?: 'allow' | 'refuse';
  /** Config `ivr.machineDetection`: screen the greeting for an answering machine; absent = off. */
  machineDetection?: MachineDetectionConfig;
  now(): Date;
}

const NOT_ANSWERED: Record<Exclude<DialResult['kind'], 'answered'>, CallOutcome['kind']> = {
  busy: 'busy', no_answer: 'no_answer', rejected: 'rejected', failed: 'failed', forwarded: 'forwarded',
};

/**
 * The payment service's call port, over a real telephone engine: dials the enrolled number, retries
 * busy or unanswered phones within the payment's expiry, and runs the call script when answered. An
 * answering machine (the greeting screen) is hung up on before anything is said and counts as no answer.
 * Every dial attempt reports its own call record.
 */
export function createIvrAuthorizer(d: IvrAuthorizerDeps): CallAuthorizer {
  return {
    live: true,
    async authorize(req) {
      const attempts = 1 + d.retryAttempts;
      // Rendered while the INVITE goes out and the phone rings (a cache hit is a stat, a miss one espeak-ng
      // run): neither the INVITE nor the answered call waits for it. Not ready at the answer = clip by clip.
      let amountPhrase: string | null = null;
      void d.amountPhrases?.render(req.amount, req.currency, req.locale).then((file) => void (amountPhrase = file), () => undefined);
      /** An answered call a person (or an unknown) picked up: the call script, then its record. */
      const converse = async (call: Call, attempt: number): Promise<CallOutcome> => {
        req.onProgress({ type: 'answered', attempt });
        let outcome: CallOutcome;
        try {
          outcome = await runAuthorizationScript(call, {
            prompts: amountPhrase ? withAmountPhrase(d.prompts(req.locale), amountPhrase) : d.prompts(req.locale),
            amountClips: amountPhrase ? [AMOUNT_PHRASE] : d.sayAmount(req.amount, req.currency, req.locale),
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
        // An approval and a fraud report were made on the call: they stand even if it was cut short meanwhile.
        if (req.signal.aborted && outcome.kind !== 'approved' && outcome.kind !== 'fraud_reported') return { kind: 'hung_up' };
        // An answered call that the engine lost (not one the phone hung up): the media server or its
        // control connection went away mid-call.
        if (outcome.kind === 'hung_up' && ended.outcome === 'failed') {
          return ended.reason === MEDIA_TIMEOUT ? { kind: 'media_timeout' } : { kind: 'interrupted', reason: ended.reason ?? 'call lost' };
        }
        return outcome;
      };
      for (let attempt = 1; ; attempt++) {
        const log = req.log.child({ attempt });
        const refused = await req.mayDial(attempt);
        if (refused) {
          log.warn({ reason: refused }, 'dial refused by a call cap');
          return { kind: 'call_limit', reason: refused };
        }
        req.onProgress({ type: 'dialing', attempt });
        const dial = await d.engine.dial({
          number: req.phone, log, signal: req.signal, onRinging: () => req.onProgress({ type: 'ringing', attempt }),
          ...(d.forwarding ? { forwarding: d.forwarding } : {}),
        });
        let missed: { kind: NotAnswered; sipStatus: number | null; reason: string };
        if (dial.kind === 'answered') {
          const { call } = dial;
          req.onAttempt(attempt, call.record());
          const screen = await screenGreeting(call, d.machineDetection);
          if (screen.verdict !== 'machine') return converse(call, attempt);
          // A recording must not hear who asks for how much: hang up, and treat it as no answer.
          await call.hangup();
          req.onAttempt(attempt, { ...(await call.ended), outcome: 'machine_detected', reason: `answering machine (${screen.reason})` });
          missed = { kind: 'no_answer', sipStatus: 200, reason: 'answering machine' };
        } else {
          req.onAttempt(attempt, dial.record);
          missed = dial;
        }
        const retryable = missed.kind === 'busy' || missed.kind === 'no_answer';
        const nextAt = d.now().getTime() + d.retryDelayMs;
        const last = !retryable || attempt >= attempts || nextAt >= req.deadline.getTime() || req.signal.aborted;
        // The page has no sentence of its own for a forwarded call: it says the call failed, the final status why.
        req.onProgress({ type: 'not_answered', attempt, outcome: missed.kind === 'forwarded' ? 'failed' : missed.kind, retryInMs: last ? null : d.retryDelayMs });
        if (last) {
          log.info({ outcome: missed.kind, sipStatus: missed.sipStatus }, 'call not answered');
          if (missed.kind === 'forwarded') return { kind: 'forwarded', reason: missed.reason };
          return missed.kind === 'failed' ? { kind: 'failed', reason: missed.reason, ...(missed.sipStatus ? { sipStatus: missed.sipStatus } : {}) } : ({ kind: NOT_ANSWERED[missed.kind] } as CallOutcome);
        }
        log.info({ outcome: missed.kind, retryInMs: d.retryDelayMs }, 'call not answered; retrying');
        await sleep(d.retryDelayMs, req.signal);
      }
    },
    async close() {
      await d.engine.close();
    },
  };
}

/** The rendered amount phrase's name in the script's clip list: not a manifest clip, one file per payment. */
const AMOUNT_PHRASE = 'amount-phrase';

function withAmountPhrase(prompts: ScriptPrompts, file: string): ScriptPrompts {
  return { clip: (name) => (name === AMOUNT_PHRASE ? file : prompts.clip(name)) };
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
