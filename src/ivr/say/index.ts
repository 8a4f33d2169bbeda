import { currencyClips } from './currencies.js';
import { enNumberClips } from './en-us.js';
import type { PromptLocale } from './locales.js';
import { PHRASES } from './phrases.js';
import { zhNumberClips } from './zh-tw.js';

export { sayAmount } from './amount.js';
export { EN_CURRENCIES, ZH_CURRENCIES, spokenCurrencies, type EnCurrencyWords, type ZhCurrencyWords } from './currencies.js';
export { enSayNumber } from './en-us.js';
export { PROMPT_LOCALES, isPromptLocale, type PromptLocale } from './locales.js';
export { GREETING, PHRASES, type PhraseClip } from './phrases.js';
export { zhSayNumber, type ZhNumberOptions } from './zh-tw.js';

/** Every clip sayAmount can return in `locale`, for any currency it knows. */
export function amountClips(locale: PromptLocale): string[] {
  return [...(locale === 'en-US' ? enNumberClips() : zhNumberClips()), ...currencyClips(locale)];
}

/** Every clip a locale's prompt set must have: amounts and the call script's phrases. */
export function requiredClips(locale: PromptLocale): string[] {
  return [...new Set([...amountClips(locale), ...Object.values(PHRASES)])];
}
