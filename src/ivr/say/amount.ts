import type { Locale } from '../../domain/locale.js';
import { MAX_MINOR_AMOUNT, exponentOf } from '../../domain/money.js';
import { speechOf } from './locales.js';

/**
 * An amount in minor units as the clip names to play, in order, read by `locale`'s speech
 * (ivr/say/<locale>.ts). Pure: no I/O.
 *
 * Throws (misuse, not an outcome): RangeError for a negative, fractional or too-large amount, an
 * `invalid_field` CallpayError for a currency outside ISO 4217's table, Error for a currency the
 * locale has no words for.
 */
export function sayAmount(minor: number, currency: string, locale: Locale): string[] {
  if (!Number.isSafeInteger(minor) || minor < 0 || minor > MAX_MINOR_AMOUNT) {
    throw new RangeError(`sayAmount: expected integer minor units in 0..${MAX_MINOR_AMOUNT}, got ${minor}`);
  }
  const scale = 10 ** exponentOf(currency);
  return speechOf(locale).sayAmount({ major: Math.floor(minor / scale), fraction: minor % scale, scale, currency });
}
