import type { LocaleSpeech, SplitAmount } from './speech.js';

/**
 * English cardinals as clip names, the way FreeSWITCH's mod_say_en builds them: groups of three
 * digits, each "<d> hundred" + a tens word (20..90) + a units word, or one teen word (10..19), then the
 * group's scale word. Clip names follow FreeSWITCH's sound tree (digits/1, digits/20, digits/hundred),
 * so a FreeSWITCH 8 kHz sound pack's files can be dropped in. US style: no "and" inside numbers.
 */

const SCALES = ['digits/trillion', 'digits/billion', 'digits/million', 'digits/thousand'] as const;

/** Largest number enSayNumber reads: 999 trillion 999 billion ... */
export const EN_MAX_NUMBER = 999_999_999_999_999;

export function enSayNumber(n: number): string[] {
  if (!Number.isSafeInteger(n) || n < 0 || n > EN_MAX_NUMBER) {
    throw new RangeError(`enSayNumber: expected an integer in 0..${EN_MAX_NUMBER}, got ${n}`);
  }
  if (n === 0) return ['digits/0'];
  const out: string[] = [];
  let scale = 10 ** 12;
  for (const word of [...SCALES, null]) {
    const group = Math.floor(n / scale) % 1000;
    if (group > 0) {
      out.push(...enGroup(group));
      if (word) out.push(word);
    }
    scale /= 1000;
  }
  return out;
}

function enGroup(g: number): string[] {
  const out: string[] = [];
  const hundreds = Math.floor(g / 100);
  const rest = g % 100;
  if (hundreds > 0) out.push(`digits/${hundreds}`, 'digits/hundred');
  if (rest >= 20) {
    out.push(`digits/${rest - (rest % 10)}`);
    if (rest % 10 > 0) out.push(`digits/${rest % 10}`);
  } else if (rest > 0) {
    out.push(`digits/${rest}`); // 1..19: teens are single words
  }
  return out;
}

/** Every clip enSayNumber can return. */
export function enNumberClips(): string[] {
  const out: string[] = [];
  for (let i = 0; i <= 19; i++) out.push(`digits/${i}`);
  for (let t = 20; t <= 90; t += 10) out.push(`digits/${t}`);
  out.push('digits/hundred', ...SCALES);
  return out;
}

/**
 * How English names each currency. Data, not code: adding a currency is a row here plus its clips in
 * scripts/make-prompts.mjs. The exponent itself always comes from ISO 4217 (domain/money.ts).
 */
export interface EnCurrencyWords {
  /** "dollar" / "dollars" after the major amount. */
  major: { one: string; other: string };
  /** "cent" / "cents" after the minor amount; absent for currencies without minor units (JPY). */
  minor?: { one: string; other: string };
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

/**
 * mod_say_en's money reading, without its "and zero cents": 120507 USD → 1 thousand 2 hundred 5
 * dollars and 7 cents; 100 → one dollar; 5 → five cents; 0 → zero dollars. TWD is "New Taiwan dollars".
 */
function enSayAmount({ major, fraction, scale, currency }: SplitAmount): string[] {
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

function enCurrencyClips(): string[] {
  const out = new Set<string>([EN_AND]);
  for (const c of Object.values(EN_CURRENCIES)) {
    out.add(c.major.one).add(c.major.other);
    if (c.minor) out.add(c.minor.one).add(c.minor.other);
  }
  return [...out];
}

export const enUS: LocaleSpeech = {
  sayNumber: enSayNumber,
  sayAmount: enSayAmount,
  currencies: () => Object.keys(EN_CURRENCIES),
  amountClips: () => [...enNumberClips(), ...enCurrencyClips()],
  espeakVoice: 'en-us',
};
