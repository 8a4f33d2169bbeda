import type { PromptLocale } from './locales.js';

/**
 * How each locale names each currency. Data, not code: adding a currency is a row here plus its clips
 * in scripts/make-prompts.mjs. The exponent itself always comes from ISO 4217 (domain/money.ts).
 */
export interface EnCurrencyWords {
  /** "dollar" / "dollars" after the major amount. */
  major: { one: string; other: string };
  /** "cent" / "cents" after the minor amount; absent for currencies without minor units (JPY). */
  minor?: { one: string; other: string };
}

export interface ZhCurrencyWords {
  /** Said once before the amount: 新臺幣. */
  prefix?: string;
  /** After the major amount: 元, 美元. */
  major: string;
  /**
   * The minor part: 'jiao-fen' reads the two minor digits as 角 and 分 (新臺幣, 人民幣, 港幣);
   * `{ unit }` reads the minor amount as one number followed by `unit` (美分: US cents are not
   * spoken as dimes); absent when the currency has no minor unit.
   */
  minor?: 'jiao-fen' | { unit: string };
}

export const EN_CURRENCIES: Readonly<Record<string, EnCurrencyWords>> = {
  USD: { major: { one: 'currency/dollar', other: 'currency/dollars' }, minor: { one: 'currency/cent', other: 'currency/cents' } },
  TWD: {
    major: { one: 'currency/new-taiwan-dollar', other: 'currency/new-taiwan-dollars' },
    minor: { one: 'currency/cent', other: 'currency/cents' },
  },
  HKD: {
    major: { one: 'currency/hong-kong-dollar', other: 'currency/hong-kong-dollars' },
    minor: { one: 'currency/cent', other: 'currency/cents' },
  },
  EUR: { major: { one: 'currency/euro', other: 'currency/euros' }, minor: { one: 'currency/cent', other: 'currency/cents' } },
  GBP: { major: { one: 'currency/pound', other: 'currency/pounds' }, minor: { one: 'currency/penny', other: 'currency/pence' } },
  CNY: { major: { one: 'currency/yuan', other: 'currency/yuan' }, minor: { one: 'currency/fen', other: 'currency/fen' } },
  JPY: { major: { one: 'currency/yen', other: 'currency/yen' } },
};

export const EN_AND = 'currency/and';

export const ZH_JIAO = 'currency/jiao';
export const ZH_FEN = 'currency/fen';

export const ZH_CURRENCIES: Readonly<Record<string, ZhCurrencyWords>> = {
  TWD: { prefix: 'currency/twd', major: 'currency/yuan', minor: 'jiao-fen' },
  CNY: { prefix: 'currency/cny', major: 'currency/yuan', minor: 'jiao-fen' },
  HKD: { prefix: 'currency/hkd', major: 'currency/yuan', minor: 'jiao-fen' },
  USD: { major: 'currency/usd', minor: { unit: 'currency/usd-cent' } },
  EUR: { major: 'currency/eur', minor: { unit: 'currency/eur-cent' } },
  GBP: { major: 'currency/gbp', minor: { unit: 'currency/gbp-penny' } },
  JPY: { major: 'currency/jpy' },
};

/** Currencies sayAmount can read in `locale`. */
export function spokenCurrencies(locale: PromptLocale): string[] {
  return Object.keys(locale === 'en-US' ? EN_CURRENCIES : ZH_CURRENCIES);
}

/** Every currency clip of `locale`. */
export function currencyClips(locale: PromptLocale): string[] {
  const out = new Set<string>();
  if (locale === 'en-US') {
    out.add(EN_AND);
    for (const c of Object.values(EN_CURRENCIES)) {
      out.add(c.major.one).add(c.major.other);
      if (c.minor) out.add(c.minor.one).add(c.minor.other);
    }
  } else {
    for (const c of Object.values(ZH_CURRENCIES)) {
      if (c.prefix) out.add(c.prefix);
      out.add(c.major);
      if (c.minor === 'jiao-fen') out.add(ZH_JIAO).add(ZH_FEN);
      else if (c.minor) out.add(c.minor.unit);
    }
  }
  return [...out];
}
