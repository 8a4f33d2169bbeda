import type { Locale } from '../../domain/locale.js';
import { enSayNumber } from '../say/en-us.js';
import { zhSayNumber } from '../say/zh-tw.js';

/**
 * The self-service menu's clips (issue 16 item 2), kept apart from the call script's PHRASES: they
 * are required only when `selfService.enabled` (wiring/self-service.ts checks them at start-up).
 * Texts in scripts/make-prompts.mjs.
 */
export const SELF = {
  enterPin: 'self/enter-pin',
  /** The one refusal for every caller not served: unknown, untrusted, locked, shared line. */
  unavailable: 'self/unavailable',
  menu: 'self/menu',
  noPayments: 'self/no-payments',
  /** Before a payment's date (en-US: "on"). */
  on: 'self/on',
  newPin: 'self/new-pin',
  repeatPin: 'self/repeat-pin',
  pinMismatch: 'self/pin-mismatch',
  pinSame: 'self/pin-same',
  pinInvalid: 'self/pin-invalid',
  pinChanged: 'self/pin-changed',
  limitsMenu: 'self/limits-menu',
  limitsPassword: 'self/limits-password',
  enterAmount: 'self/enter-amount',
  notLower: 'self/not-lower',
  limitChanged: 'self/limit-changed',
  frictionlessOff: 'self/frictionless-off',
  lockOffer: 'self/lock-offer',
  locked: 'self/locked',
  unlockOffer: 'self/unlock-offer',
  unlocked: 'self/unlocked',
  invalidChoice: 'self/invalid-choice',
} as const;

const EN_MONTHS = Array.from({ length: 12 }, (_, i) => `self/month-${i + 1}`);
const ZH_MONTH = 'self/month';
const ZH_DAY = 'self/day';

/** Every self-service clip a locale's prompt set must have. */
export function selfServiceClips(locale: Locale): string[] {
  return [...Object.values(SELF), ...(locale === 'zh-TW' ? [ZH_MONTH, ZH_DAY] : EN_MONTHS)];
}

/** Month and day of `iso` in `timeZone`, spoken: "December three" / 十二月三日. */
export function sayDate(iso: string, locale: Locale, timeZone: string): string[] {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, month: 'numeric', day: 'numeric' }).formatToParts(new Date(iso));
  const month = Number(parts.find((p) => p.type === 'month')?.value);
  const day = Number(parts.find((p) => p.type === 'day')?.value);
  if (locale === 'zh-TW') return [...zhSayNumber(month), ZH_MONTH, ...zhSayNumber(day), ZH_DAY];
  return [SELF.on, EN_MONTHS[month - 1]!, ...enSayNumber(day)];
}
