import type { Call, CollectOptions } from '../telephony/engine.js';
import type { CallOutcome, PinCheck } from '../payments/ports.js';
import type { Logger } from '../log.js';
import { GREETING, PHRASES } from './say/index.js';

export interface ScriptPrompts {
  /** Absolute path of a named clip. */
  clip(name: string): string;
}

export interface ScriptInput {
  prompts: ScriptPrompts;
  /** Clip names saying the amount in the consumer's locale (from sayAmount). */
  amountClips: readonly string[];
  /** A clip with the merchant's name, or null for the generic "a merchant". */
  merchantClip: string | null;
  verifyPin(pin: string): Promise<PinCheck>;
  pinTries: number;
  firstDigitTimeoutMs: number;
  interDigitTimeoutMs: number;
  log: Logger;
}

/**
 * The authorization call, as small steps over a Call (no SIP here): announce who asks for how much,
 * collect the PIN ("#" ends it, "*" declines at any point), verify it off the event loop, say the
 * result, hang up. Digits keyed during the announcement are kept. The PIN never reaches a log.
 */
export async function runAuthorizationScript(call: Call, s: ScriptInput): Promise<CallOutcome> {
  const clip = (name: string) => s.prompts.clip(name);
  const pinInput: CollectOptions = {
    minDigits: 4, maxDigits: 8, terminators: '#*', firstDigitTimeoutMs: s.firstDigitTimeoutMs, interDigitTimeoutMs: s.interDigitTimeoutMs,
  };
  const finish = async (outcome: CallOutcome, ...closing: string[]): Promise<CallOutcome> => {
    if (closing.length > 0 && (await call.play(closing.map(clip), { bargeIn: false })).kind === 'hung_up') return { kind: 'hung_up' };
    await call.hangup();
    return outcome;
  };

  const announcement = [...GREETING.map(clip), s.merchantClip ?? clip(PHRASES.aMerchant), clip(PHRASES.requestsPaymentOf), ...s.amountClips.map(clip)];
  if ((await call.play(announcement, { bargeIn: true })).kind === 'hung_up') return { kind: 'hung_up' };

  let tries = 0;
  let silences = 0;
  while (tries < s.pinTries) {
    const prompt = await call.play([clip(PHRASES.enterPin)], { bargeIn: true });
    if (prompt.kind === 'hung_up') return { kind: 'hung_up' };
    const input = await call.collect(pinInput);
    if (input.kind === 'hung_up') return { kind: 'hung_up' };
    if (input.kind === 'no_input') {
      silences += 1;
      s.log.info({ silences }, 'no PIN input');
      if (silences >= 2) return finish({ kind: 'no_input' }, PHRASES.noInput, PHRASES.goodbye);
      continue;
    }
    if (input.terminator === '*' || input.digits.includes('*')) return finish({ kind: 'declined' }, PHRASES.declined, PHRASES.goodbye);
    tries += 1;
    const check = input.digits.length >= pinInput.minDigits ? await s.verifyPin(input.digits) : 'wrong';
    s.log.info({ attempt: tries, result: check }, 'PIN checked');
    if (check === 'ok') return finish({ kind: 'approved' }, PHRASES.approved, PHRASES.goodbye);
    if (check === 'locked') return finish({ kind: 'locked' }, PHRASES.declined, PHRASES.goodbye);
    if (tries < s.pinTries) {
      if ((await call.play([clip(PHRASES.wrongPin)], { bargeIn: true })).kind === 'hung_up') return { kind: 'hung_up' };
    }
  }
  return finish({ kind: 'wrong_pin' }, PHRASES.declined, PHRASES.goodbye);
}
