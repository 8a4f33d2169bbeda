import type { Consumer } from '../../domain/consumer.js';
import type { Locale } from '../../domain/locale.js';
import type { Logger } from '../../log.js';
import type { InboundCaller, SelfServiceDesk } from '../../payments/self-service.js';
import type { Call, CollectOptions, CollectResult } from '../../telephony/engine.js';
import { GREETING, PHRASES } from '../say/index.js';
import { changePin, hearPayments, lockOrUnlock, lowerLimits } from './actions.js';
import { SELF } from './clips.js';

/**
 * An inbound self-service call as small steps over a Call (no SIP here): refuse anyone the desk does
 * not identify (one refusal for every reason, so a call never tells whether a number is enrolled),
 * then the PIN (wrong ones count toward the shared lockout), then the menu in the consumer's locale
 * until they press 9, stop answering, or hang up. PINs never reach a log.
 */

export type SelfServicePort = Pick<
  SelfServiceDesk,
  'identify' | 'selfLocked' | 'checkPin' | 'recentPayments' | 'changePin' | 'lowerLimit' | 'frictionlessOff' | 'lock' | 'unlock'
>;

export interface SelfServicePrompts {
  clip(name: string): string;
}

/** The amount clips for `minor` in `currency` (sayAmount). */
export type SayAmount = (minor: number, currency: string, locale: Locale) => string[];

export interface SelfServiceOptions {
  desk: SelfServicePort;
  prompts(locale: Locale): SelfServicePrompts;
  sayAmount: SayAmount;
  /** The locale of the refusal, before anyone is identified. */
  defaultLocale: Locale;
  /** Thresholds keyed by phone are whole units of this currency. */
  currency: string;
  /** Dates of payments are read in this zone. */
  timeZone: string;
  pinTries: number;
  recentPayments: number;
  firstDigitTimeoutMs: number;
  interDigitTimeoutMs: number;
}

export type SelfServiceEnd = 'refused' | 'locked' | 'wrong_pin' | 'no_input' | 'finished' | 'hung_up';

/** What the actions share: the call, the consumer, and how to say and ask. */
export interface Turn {
  call: Call;
  consumer: Consumer;
  o: SelfServiceOptions;
  log: Logger;
  say(clips: readonly string[], bargeIn?: boolean): Promise<boolean>;
  /** Plays files (clips already resolved, a merchant's recording); false once the caller hung up. */
  sayPaths(paths: readonly string[], bargeIn?: boolean): Promise<boolean>;
  /** Digits ended by "#" (or max), null when nothing came; `hungUp` tells the two apart. */
  ask(clips: readonly string[], collect: Partial<CollectOptions>): Promise<string | null>;
  readonly hungUp: boolean;
}

const MENU_SILENCES = 2;
const MENU_KEYS = ['1', '2', '3', '4', '9'];

export async function runSelfService(call: Call, caller: InboundCaller, o: SelfServiceOptions): Promise<SelfServiceEnd> {
  const log = call.log;
  try {
    const consumer = await o.desk.identify(caller);
    if (!consumer) {
      log.info({ trustedSource: caller.trustedSource }, 'self-service call refused');
      await call.play([o.prompts(o.defaultLocale).clip(SELF.unavailable)]);
      return 'refused';
    }
    const t = turn(call, consumer, o, log);
    log.info({ consumerId: consumer.id }, 'self-service caller identified by number');
    const pin = await checkPin(t);
    if (pin !== 'ok') return pin;
    return await menu(t);
  } finally {
    await call.hangup();
  }
}

function turn(call: Call, consumer: Consumer, o: SelfServiceOptions, log: Logger): Turn {
  const set = o.prompts(consumer.locale);
  let hungUp = false;
  const t: Turn = {
    call, consumer, o, log,
    get hungUp() {
      return hungUp;
    },
    say(clips, bargeIn = true) {
      return t.sayPaths(clips.map((c) => set.clip(c)), bargeIn);
    },
    async sayPaths(paths, bargeIn = true) {
      const r = await call.play(paths, { bargeIn });
      if (r.kind === 'hung_up') hungUp = true;
      return !hungUp;
    },
    async ask(clips, collect) {
      if (clips.length > 0 && !(await t.say(clips))) return null;
      const r: CollectResult = await call.collect({
        minDigits: 1, maxDigits: 1, terminators: '#', firstDigitTimeoutMs: o.firstDigitTimeoutMs, interDigitTimeoutMs: o.interDigitTimeoutMs, ...collect,
      });
      if (r.kind === 'hung_up') hungUp = true;
      return r.kind === 'digits' && r.digits.length > 0 ? r.digits : null;
    },
  };
  return t;
}

async function checkPin(t: Turn): Promise<'ok' | 'wrong_pin' | 'locked' | 'no_input' | 'hung_up'> {
  await t.say([...GREETING]);
  for (let attempt = 1; attempt <= t.o.pinTries; attempt++) {
    const pin = await t.ask([SELF.enterPin], { maxDigits: 8 });
    if (t.hungUp) return 'hung_up';
    if (pin === null) {
      await t.say([PHRASES.noInput, PHRASES.goodbye], false);
      return 'no_input';
    }
    const verdict = await t.o.desk.checkPin(t.consumer.id, pin);
    if (verdict === 'ok') return 'ok';
    t.log.info({ attempt, verdict }, 'self-service PIN not accepted');
    if (verdict === 'locked') {
      await t.say([SELF.unavailable], false);
      return 'locked';
    }
    if (attempt < t.o.pinTries) await t.say([PHRASES.wrongPin]);
  }
  await t.say([PHRASES.wrongPin, PHRASES.goodbye], false);
  return 'wrong_pin';
}

async function menu(t: Turn): Promise<SelfServiceEnd> {
  let silences = 0;
  for (;;) {
    const choice = await t.ask([SELF.menu], {});
    if (t.hungUp) return 'hung_up';
    if (choice === null) {
      if (++silences >= MENU_SILENCES) {
        await t.say([PHRASES.noInput, PHRASES.goodbye], false);
        return 'no_input';
      }
      continue;
    }
    silences = 0;
    // Only the menu's own keys are logged: anything else keyed here could be part of a PIN.
    t.log.info({ choice: MENU_KEYS.includes(choice) ? choice : 'invalid' }, 'self-service menu choice');
    switch (choice) {
      case '1':
        await hearPayments(t);
        break;
      case '2':
        await changePin(t);
        break;
      case '3':
        await lowerLimits(t);
        break;
      case '4':
        await lockOrUnlock(t);
        break;
      case '9':
        await t.say([PHRASES.goodbye], false);
        return 'finished';
      default:
        await t.say([SELF.invalidChoice]);
    }
    if (t.hungUp) return 'hung_up';
  }
}
