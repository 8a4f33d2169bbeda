import { MAX_MINOR_AMOUNT, exponentOf } from '../../domain/money.js';
import { EN_AND, EN_CURRENCIES, ZH_CURRENCIES, ZH_FEN, ZH_JIAO } from './currencies.js';
import { enSayNumber } from './en-us.js';
import type { PromptLocale } from './locales.js';
import { ZH_ZERO, zhSayNumber } from './zh-tw.js';

/**
 * An amount in minor units as the clip names to play, in order. Pure: no I/O.
 *
 * en-US (mod_say_en's money reading, without its "and zero cents"):
 *   120507 USD → 1 thousand 2 hundred 5 dollars and 7 cents; 100 → one dollar; 5 → five cents;
 *   0 → zero dollars. TWD is "New Taiwan dollars".
 * zh-TW: TWD → 新臺幣 <n> 元 [<n> 角] [<n> 分] (120507 → 新臺幣一千兩百零五元七分, 105 →
 *   新臺幣一元零五分, 5 → 新臺幣五分, 0 → 新臺幣零元); USD → <n> 美元 [<n> 美分] (美分 rather
 *   than 分 so that 0.05 alone still names the currency).
 *
 * Throws (misuse, not an outcome): RangeError for a negative, fractional or too-large amount, an
 * `invalid_field` CallpayError for a currency outside ISO 4217's table, Error for a currency the
 * locale has no words for.
 */
export function sayAmount(minor: number, currency: string, locale: PromptLocale): string[] {
  if (!Number.isSafeInteger(minor) || minor < 0 || minor > MAX_MINOR_AMOUNT) {
    throw new RangeError(`sayAmount: expected integer minor units in 0..${MAX_MINOR_AMOUNT}, got ${minor}`);
  }
  const scale = 10 ** exponentOf(currency);
  const major = Math.floor(minor / scale);
  const fraction = minor % scale;
  return locale === 'en-US' ? sayEn(major, fraction, scale, currency) : sayZh(major, fraction, scale, currency);
}

function sayEn(major: number, fraction: number, scale: number, currency: string): string[] {
  const words = EN_CURRENCIES[currency];
  if (!words) throw new Error(`sayAmount: no en-US words for ${currency}`);
  if (major === 0 && fraction === 0) return [...enSayNumber(0), words.major.other];

  const out: string[] = [];
  if (major > 0) out.push(...enSayNumber(major), major === 1 ? words.major.one : words.major.other);
  if (fraction > 0) {
    if (!words.minor) throw new Error(`sayAmount: ${currency} has no en-US minor unit words (scale ${scale})`);
    if (major > 0) out.push(EN_AND);
    out.push(...enSayNumber(fraction), fraction === 1 ? words.minor.one : words.minor.other);
  }
  return out;
}

function sayZh(major: number, fraction: number, scale: number, currency: string): string[] {
  const words = ZH_CURRENCIES[currency];
  if (!words) throw new Error(`sayAmount: no zh-TW words for ${currency}`);
  const out: string[] = words.prefix ? [words.prefix] : [];
  if (major === 0 && fraction === 0) return [...out, ZH_ZERO, words.major];

  if (major > 0) out.push(...zhSayNumber(major, { measure: true }), words.major);
  if (fraction === 0) return out;
  if (words.minor === undefined) throw new Error(`sayAmount: ${currency} has no zh-TW minor unit words`);
  if (words.minor === 'jiao-fen') {
    if (scale !== 100) throw new Error(`sayAmount: 角/分 need 2 decimal places, ${currency} has scale ${scale}`);
    const jiao = Math.floor(fraction / 10);
    const fen = fraction % 10;
    if (jiao > 0) out.push(...zhSayNumber(jiao, { measure: true }), ZH_JIAO);
    if (fen > 0) {
      if (jiao === 0 && major > 0) out.push(ZH_ZERO); // 一元零五分
      out.push(...zhSayNumber(fen, { measure: true }), ZH_FEN);
    }
  } else {
    out.push(...zhSayNumber(fraction, { measure: true }), words.minor.unit);
  }
  return out;
}
