import { parsePin } from '../../domain/consumer.js';
import { exponentOf, MAX_MINOR_AMOUNT } from '../../domain/money.js';
import { PHRASES } from '../say/index.js';
import { SELF, sayDate } from './clips.js';
import type { Turn } from './menu.js';

/**
 * The self-service menu's four entries, each a short exchange over the Turn (menu.ts). Rules are the
 * desk's (payments/self-service.ts); here only what is asked and said. PINs never reach a log.
 */

/** 1: the last payments, newest first: merchant, amount, date. */
export async function hearPayments(t: Turn): Promise<void> {
  const payments = await t.o.desk.recentPayments(t.consumer.id, t.o.recentPayments);
  if (payments.length === 0) {
    await t.say([SELF.noPayments]);
    return;
  }
  const locale = t.consumer.locale;
  const set = t.o.prompts(locale);
  for (const p of payments) {
    // The merchant's own recording of its name (a file outside the prompt set) when it has one.
    const merchant = [p.merchantVoiceClip ?? set.clip(PHRASES.aMerchant)];
    const amount = t.o.sayAmount(p.amount, p.currency, locale).map((c) => set.clip(c));
    const date = sayDate(p.createdAt, locale, t.o.timeZone).map((c) => set.clip(c));
    const spoken = locale === 'zh-TW' ? [...date, ...merchant, ...amount] : [...merchant, ...amount, ...date];
    if (!(await t.sayPaths(spoken))) return;
  }
}

/** 2: the new PIN twice; it must be 4-8 digits, match, and differ from the current one. */
export async function changePin(t: Turn): Promise<void> {
  const pinInput = { maxDigits: 8 };
  const first = await t.ask([SELF.newPin], pinInput);
  if (first === null) return;
  const second = await t.ask([SELF.repeatPin], pinInput);
  if (second === null) return;
  if (first !== second) {
    await t.say([SELF.pinMismatch]);
    return;
  }
  let pin: string;
  try {
    pin = parsePin(first);
  } catch {
    await t.say([SELF.pinInvalid]);
    return;
  }
  const result = await t.o.desk.changePin(t.consumer.id, pin);
  t.log.info({ consumerId: t.consumer.id, result }, 'self-service PIN change');
  await t.say([result === 'changed' ? SELF.pinChanged : SELF.pinSame]);
}

/**
 * 3: lower the call or password threshold (an amount in whole units, then "#"), or turn the
 * frictionless allowance off. Raising is refused: by phone a consumer can only tighten.
 */
export async function lowerLimits(t: Turn): Promise<void> {
  const withPassword = t.consumer.hasPassword;
  const choice = await t.ask(withPassword ? [SELF.limitsMenu, SELF.limitsPassword] : [SELF.limitsMenu], {});
  if (choice === '3') {
    const r = await t.o.desk.frictionlessOff(t.consumer.id);
    t.log.info({ consumerId: t.consumer.id, result: r }, 'self-service: frictionless allowance off');
    await t.say([SELF.frictionlessOff]);
    return;
  }
  if (choice !== '1' && !(choice === '2' && withPassword)) {
    if (choice !== null) await t.say([SELF.invalidChoice]);
    return;
  }
  const field = choice === '1' ? 'callAbove' : 'passwordAbove';
  const entered = await t.ask([SELF.enterAmount], { maxDigits: 12 });
  if (entered === null) return;
  const minor = Number(entered) * 10 ** exponentOf(t.o.currency);
  if (!Number.isSafeInteger(minor) || minor > MAX_MINOR_AMOUNT) {
    await t.say([SELF.notLower]);
    return;
  }
  const r = await t.o.desk.lowerLimit(t.consumer.id, field, minor);
  t.log.info({ consumerId: t.consumer.id, field, result: r }, 'self-service: threshold');
  await t.say([r === 'changed' ? SELF.limitChanged : SELF.notLower]);
}

/** 4: lock payments; or, when the consumer locked them by phone, unlock them. */
export async function lockOrUnlock(t: Turn): Promise<void> {
  const selfLocked = await t.o.desk.selfLocked(t.consumer.id);
  const choice = await t.ask([selfLocked ? SELF.unlockOffer : SELF.lockOffer], {});
  if (choice !== '1') return;
  if (selfLocked) {
    const r = await t.o.desk.unlock(t.consumer.id);
    t.log.info({ consumerId: t.consumer.id, result: r }, 'self-service: unlock');
    await t.say([r === 'unlocked' ? SELF.unlocked : SELF.unavailable]);
    return;
  }
  const r = await t.o.desk.lock(t.consumer.id);
  t.log.info({ consumerId: t.consumer.id, result: r }, 'self-service: lock');
  await t.say([SELF.locked]);
}
