import { LOCALE_INFO, LOCALES, type Locale } from '../domain/locale.js';
import { exponentOf } from '../domain/money.js';
import { enUS } from './locales/en-us.js';
import type { PageLocale, Strings } from './locales/page-locale.js';
import { zhTW } from './locales/zh-tw.js';

export type { PageLocale, ResultStatus, Strings } from './locales/page-locale.js';

/** The checkout pages come in every locale. */
export const LANGS = LOCALES;
export type Lang = Locale;

/** Each locale's pages: the one table a new locale adds its strings to (checkout/locales/<locale>.ts). */
export const PAGE_LOCALES: Readonly<Record<Lang, PageLocale>> = {
  'en-US': enUS,
  'zh-TW': zhTW,
};

export const STRINGS: Readonly<Record<Lang, Strings>> = mapLangs((l) => PAGE_LOCALES[l].strings);

/** Each language's own name, shown in the switcher whatever the page's language. */
export const LANG_NAMES: Readonly<Record<Lang, string>> = mapLangs((l) => LOCALE_INFO[l].nativeName);

/** Used when the reader accepts none of our languages. */
const FALLBACK: Lang = 'en-US';

function mapLangs<T>(f: (lang: Lang) => T): Record<Lang, T> {
  return Object.fromEntries(LANGS.map((l) => [l, f(l)])) as Record<Lang, T>;
}

export function parseLang(value: string | undefined): Lang | undefined {
  return LANGS.find((l) => l.toLowerCase() === value?.toLowerCase());
}

/**
 * Picks the page language from Accept-Language, in the listed preference order: the first range a
 * locale serves (domain/locale.ts: e.g. zh, zh-TW, zh-Hant, zh-HK → zh-TW; en, en-* → en-US) wins;
 * languages we do not have are skipped; nothing usable → en-US.
 */
export function negotiate(acceptLanguage: string | undefined): Lang {
  const ranges = (acceptLanguage ?? '')
    .split(',')
    .slice(0, 20)
    .map((part, index) => {
      const [tag = '', ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((p) => /^\s*q=([01](?:\.\d{0,3})?)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { tag: tag.trim(), q: q === undefined ? 1 : Number(q), index };
    })
    .filter((r) => r.tag && r.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { tag } of ranges) {
    const served = LANGS.find((l) => LOCALE_INFO[l].servesLanguage(tag));
    if (served) return served;
  }
  return FALLBACK;
}

/** 15000 TWD → "NT$150.00" (en-US) or "新臺幣 150.00 元" (zh-TW), with the currency's ISO exponent. */
export function formatAmount(minor: number, currency: string, lang: Lang): string {
  return PAGE_LOCALES[lang].formatAmount(minor, currency);
}

/** An example amount for the open-amount input, in the currency's format: "150.50" or "150". */
export function amountExample(currency: string): string {
  return exponentOf(currency) === 0 ? '150' : `150.${'5'.padEnd(exponentOf(currency), '0')}`;
}

/** Seconds → "9:05" (also what checkout.js shows as it counts down). */
export function formatTimeLeft(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function formatDateTime(iso: string, lang: Lang, timeZone: string | undefined): string {
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short', ...(timeZone ? { timeZone } : {}) }).format(new Date(iso));
}
