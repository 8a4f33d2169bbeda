import type { Locale } from '../../domain/locale.js';
import { speechOf } from './locales.js';
import { PHRASES } from './phrases.js';

export { sayAmount } from './amount.js';
export { EN_CURRENCIES, enSayNumber, type EnCurrencyWords } from './en-us.js';
export { SPEECH, speechOf } from './locales.js';
export { GREETING, PHRASES, type PhraseClip } from './phrases.js';
export type { LocaleSpeech, SplitAmount } from './speech.js';
export { ZH_CURRENCIES, zhSayNumber, type ZhCurrencyWords, type ZhNumberOptions } from './zh-tw.js';
export { applyToneSandhi, pinyinOf, zhAmountSyllables, type Syllable, type Tone } from './zh-sandhi.js';

/** Currencies sayAmount can read in `locale`. */
export function spokenCurrencies(locale: Locale): string[] {
  return speechOf(locale).currencies();
}

/** Every clip sayAmount can return in `locale`, for any currency it knows. */
export function amountClips(locale: Locale): string[] {
  return speechOf(locale).amountClips();
}

/** Every clip a locale's prompt set must have: amounts and the call script's phrases. */
export function requiredClips(locale: Locale): string[] {
  return [...new Set([...amountClips(locale), ...Object.values(PHRASES)])];
}
