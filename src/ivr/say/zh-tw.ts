import type { LocaleSpeech, SplitAmount } from './speech.js';
import { pinyinOf, zhAmountSyllables } from './zh-sandhi.js';

/**
 * Mandarin cardinals as clip names (Taiwan usage). mod_say_zh's idea: a digit clip then a place clip
 * (digits/3 digits/1000 = 三千), grouped by 萬 (10^4), 億 (10^8) and 兆 (10^12) rather than by
 * thousands. Its own reading drops needed 零s and never says 兩, so the rules are spelled out here:
 *
 * - 零: one 零 for each run of skipped places between two spoken digits, also across a 萬/億
 *   boundary (1001 一千零一, 10010 一萬零一十, 100000100 一億零一百). Zeros after the last spoken
 *   digit are never said, nor zeros that only end a group before its 萬/億 (101000 十萬一千).
 * - 十 vs 一十: 一 is dropped only when the number starts with the tens place (10 十, 15 十五,
 *   100000 十萬); anywhere else it is said (110 一百一十, 10010 一萬零一十).
 * - 兩 vs 二: before 百, 千 and before a 萬/億/兆 group that is just 2, 2 is 兩 (200 兩百, 2000 兩千,
 *   20000 兩萬, 2000000 兩百萬, 1200 一千兩百); before 十 and as a trailing unit it is 二 (20 二十,
 *   22 二十二, 102 一百零二). The number 2 on its own before a measure word is 兩 (兩元): callers that
 *   put a measure word after the number pass `measure: true`.
 *
 * Clip names follow mod_say_zh's sound tree (digits/1, digits/10 = 十, digits/100 = 百,
 * digits/1000 = 千, digits/10000 = 萬, digits/100000000 = 億) plus digits/1000000000000 = 兆 and
 * digits/liang = 兩.
 */

const PLACE = ['', 'digits/10', 'digits/100', 'digits/1000'] as const;
const GROUP = ['', 'digits/10000', 'digits/100000000', 'digits/1000000000000'] as const;

export const ZH_ZERO = 'digits/0';
export const ZH_LIANG = 'digits/liang';

export interface ZhNumberOptions {
  /** A measure word (元, 角, 分...) follows: the number 2 alone is then 兩, not 二. */
  measure?: boolean;
}

export function zhSayNumber(n: number, opts: ZhNumberOptions = {}): string[] {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`zhSayNumber: expected a non-negative safe integer, got ${n}`);
  }
  if (n === 0) return [ZH_ZERO];
  if (n === 2 && opts.measure) return [ZH_LIANG];

  const groups: number[] = []; // lowest first
  for (let rest = n; rest > 0; rest = Math.floor(rest / 10_000)) groups.push(rest % 10_000);
  if (groups.length > GROUP.length) throw new RangeError(`zhSayNumber: ${n} is past 兆`);

  const out: string[] = [];
  let started = false;
  let zeroPending = false;
  for (let gi = groups.length - 1; gi >= 0; gi--) {
    const group = groups[gi]!;
    if (group === 0) {
      zeroPending ||= started;
      continue;
    }
    for (let place = 3; place >= 0; place--) {
      const digit = Math.floor(group / 10 ** place) % 10;
      if (digit === 0) {
        zeroPending ||= started;
        continue;
      }
      if (zeroPending) out.push(ZH_ZERO);
      zeroPending = false;
      const dropOne = place === 1 && digit === 1 && !started; // 十五, not 一十五, at the very start
      if (!dropOne) out.push(digitClip(digit, place, group, gi));
      if (place > 0) out.push(PLACE[place]!);
      started = true;
    }
    if (gi > 0) out.push(GROUP[gi]!);
    zeroPending = false; // zeros that only end a group before its 萬/億 are not read
  }
  return out;
}

function digitClip(digit: number, place: number, group: number, groupIndex: number): string {
  if (digit !== 2) return `digits/${digit}`;
  if (place >= 2) return ZH_LIANG; // 兩百, 兩千
  if (place === 0 && group === 2 && groupIndex > 0) return ZH_LIANG; // 兩萬, 兩億
  return 'digits/2'; // 二十, 十二, 一百零二
}

/** Every clip zhSayNumber can return. */
export function zhNumberClips(): string[] {
  const out: string[] = [];
  for (let i = 0; i <= 9; i++) out.push(`digits/${i}`);
  out.push(ZH_LIANG, ...PLACE.slice(1), ...GROUP.slice(1));
  return out;
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

export const ZH_JIAO = 'currency/jiao';
export const ZH_FEN = 'currency/fen';

/**
 * How Mandarin (Taiwan) names each currency. Data, not code: adding a currency is a row here plus its
 * clips in scripts/make-prompts.mjs. The exponent itself always comes from ISO 4217 (domain/money.ts).
 */
export const ZH_CURRENCIES: Readonly<Record<string, ZhCurrencyWords>> = {
  TWD: { prefix: 'currency/twd', major: 'currency/yuan', minor: 'jiao-fen' },
  CNY: { prefix: 'currency/cny', major: 'currency/yuan', minor: 'jiao-fen' },
  HKD: { prefix: 'currency/hkd', major: 'currency/yuan', minor: 'jiao-fen' },
  USD: { major: 'currency/usd', minor: { unit: 'currency/usd-cent' } },
  EUR: { major: 'currency/eur', minor: { unit: 'currency/eur-cent' } },
  GBP: { major: 'currency/gbp', minor: { unit: 'currency/gbp-penny' } },
  JPY: { major: 'currency/jpy' },
};

/**
 * TWD → 新臺幣 <n> 元 [<n> 角] [<n> 分] (120507 → 新臺幣一千兩百零五元七分, 105 → 新臺幣一元零五分,
 * 5 → 新臺幣五分, 0 → 新臺幣零元); USD → <n> 美元 [<n> 美分] (美分 rather than 分 so that 0.05 alone
 * still names the currency).
 */
function zhSayAmount({ major, fraction, scale, currency }: SplitAmount): string[] {
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

function zhCurrencyClips(): string[] {
  const out = new Set<string>();
  for (const c of Object.values(ZH_CURRENCIES)) {
    if (c.prefix) out.add(c.prefix);
    out.add(c.major);
    if (c.minor === 'jiao-fen') out.add(ZH_JIAO).add(ZH_FEN);
    else if (c.minor) out.add(c.minor.unit);
  }
  return [...out];
}

export const zhTW: LocaleSpeech = {
  sayNumber: (n) => zhSayNumber(n),
  sayAmount: zhSayAmount,
  currencies: () => Object.keys(ZH_CURRENCIES),
  amountClips: () => [...zhNumberClips(), ...zhCurrencyClips()],
  // Debian 12's `cmn` voice reads Han characters as pinyin spelled out in English; this one reads them in Mandarin.
  espeakVoice: 'cmn-latn-pinyin',
  amountPhrase: (clips) => pinyinOf(zhAmountSyllables(clips)),
};
