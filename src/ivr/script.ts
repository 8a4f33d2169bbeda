import type { Call, CollectOptions } from '../telephony/engine.js';
import type { CallOutcome, PinCheck } from '../payments/ports.js';
import type { Logger } from '../log.js';
import { GREETING, PHRASES } from './say/index.js';
import { isFraudReportEntry } from '../domain/fraud.js';

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
 *
 * The announcement ends with "If you did not start this payment, press 0". An entry of exactly "0"
 * (ended by "#" or by the inter-digit timeout; keyed during the announcement or at any PIN prompt) is
 * a fraud report, never a wrong PIN: PINs are 4-8 digits, so a lone 0 is never one, while a PIN that
 * starts with 0 ("0123#", even with its 0 keyed during the announcement) is one longer entry and is
 * checked as a PIN. "*" still declines, with or without a 0 before it.
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

  const announcement = [
    ...GREETING.map(clip), s.merchantClip ?? clip(PHRASES.aMerchant), clip(PHRASES.requestsPaymentOf), ...s.amountClips.map(clip), clip(PHRASES.fraudHint),
  ];
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
    if (isFraudReportEntry(input.digits, input.terminator)) {
      s.log.warn('fraud reported by the consumer on the call');
      // The report stands even if the phone hangs up during the confirmation.
      await call.play([clip(PHRASES.fraudReported), clip(PHRASES.goodbye)], { bargeIn: false });
      await call.hangup();
      return { kind: 'fraud_reported' };
    }
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
