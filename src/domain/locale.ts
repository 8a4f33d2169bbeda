import { invalidField } from './errors.js';

/**
 * Every locale callpay calls and shows pages in: the one list. A new entry makes TypeScript ask for
 * its details below, its speech (ivr/say/) and its page strings (checkout/locales/); its recorded
 * clips go in prompts/<locale>/. The database stores the tag and leaves checking it to parseLocale.
 */
export const LOCALES = ['en-US', 'zh-TW'] as const;
export type Locale = (typeof LOCALES)[number];

export interface LocaleInfo {
  /** The language's own name: a language switcher shows it whatever the page's language. */
  nativeName: string;
  /** Whether a reader asking for this lower-case BCP 47 tag (Accept-Language: "zh-hant-tw") gets this locale. */
  servesLanguage(tag: string): boolean;
}

export const LOCALE_INFO: Readonly<Record<Locale, LocaleInfo>> = {
  'en-US': { nativeName: 'English', servesLanguage: (tag) => tag === 'en' || tag.startsWith('en-') },
  // Chinese in Traditional script; zh-CN and zh-Hans readers are not served by zh-TW.
  'zh-TW': { nativeName: '繁體中文', servesLanguage: (tag) => tag === 'zh' || /^zh-(tw|hk|mo|hant)(-|$)/.test(tag) },
};

export function isLocale(value: unknown): value is Locale {
  return (LOCALES as readonly unknown[]).includes(value);
}

/** A locale as typed by a person or client: case and surrounding spaces do not matter. */
export function parseLocale(input: string, field = 'locale'): Locale {
  const found = LOCALES.find((l) => l.toLowerCase() === input.trim().toLowerCase());
  if (!found) throw invalidField(field, `expected one of ${LOCALES.join(', ')}`);
  return found;
}
