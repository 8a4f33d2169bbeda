import { describe, expect, it } from 'vitest';
import { CURRENCY_EXPONENTS, parseMajorAmount } from '../src/domain/money.js';
import { amountClips, sayAmount, spokenCurrencies, zhSayNumber } from '../src/ivr/say/index.js';
import { random } from './helpers/random.js';

/** Test-local reading of each clip, longest first for tokenizing. */
const CLIP_TEXT: Record<string, string> = {
  'currency/twd': '新臺幣', 'currency/cny': '人民幣', 'currency/hkd': '港幣',
  'currency/usd': '美元', 'currency/usd-cent': '美分', 'currency/eur': '歐元', 'currency/eur-cent': '歐分',
  'currency/gbp': '英鎊', 'currency/gbp-penny': '便士', 'currency/jpy': '日圓',
  'currency/yuan': '元', 'currency/jiao': '角', 'currency/fen': '分',
  'digits/0': '零', 'digits/1': '一', 'digits/2': '二', 'digits/3': '三', 'digits/4': '四', 'digits/5': '五',
  'digits/6': '六', 'digits/7': '七', 'digits/8': '八', 'digits/9': '九', 'digits/liang': '兩',
  'digits/10': '十', 'digits/100': '百', 'digits/1000': '千', 'digits/10000': '萬',
  'digits/100000000': '億', 'digits/1000000000000': '兆',
};
const TOKENS = Object.entries(CLIP_TEXT).sort((a, b) => b[1].length - a[1].length);

/** '新臺幣一千零一元' → ['currency/twd', 'digits/1', 'digits/1000', 'digits/0', 'digits/1', 'currency/yuan'] */
function clips(text: string): string[] {
  const out: string[] = [];
  for (let at = 0; at < text.length; ) {
    const hit = TOKENS.find(([, t]) => text.startsWith(t, at));
    if (!hit) throw new Error(`test table: no clip for ${text.slice(at)}`);
    out.push(hit[0]);
    at += hit[1].length;
  }
  return out;
}

const say = (amount: string, currency: string) => sayAmount(parseMajorAmount(amount, currency), currency, 'zh-TW');
const spoken = (list: string[]) => list.map((c) => CLIP_TEXT[c] ?? `<${c}>`).join('');

describe('sayAmount zh-TW, TWD', () => {
  it('spells out one amount clip by clip', () => {
    expect(sayAmount(100100, 'TWD', 'zh-TW')).toEqual(['currency/twd', 'digits/1', 'digits/1000', 'digits/0', 'digits/1', 'currency/yuan']);
    expect(sayAmount(1001, 'TWD', 'zh-TW')).toEqual(['currency/twd', 'digits/10', 'currency/yuan', 'digits/0', 'digits/1', 'currency/fen']);
    expect(say('2', 'TWD')).toEqual(['currency/twd', 'digits/liang', 'currency/yuan']);
  });

  it.each([
    ['0', '新臺幣零元'],
    ['0.01', '新臺幣一分'],
    ['0.02', '新臺幣兩分'],
    ['0.05', '新臺幣五分'],
    ['0.10', '新臺幣一角'],
    ['0.20', '新臺幣兩角'],
    ['0.25', '新臺幣兩角五分'],
    ['0.99', '新臺幣九角九分'],
    ['1', '新臺幣一元'],
    ['1.05', '新臺幣一元零五分'],
    ['1.50', '新臺幣一元五角'],
    ['2', '新臺幣兩元'],
    ['3', '新臺幣三元'],
    ['10', '新臺幣十元'],
    ['11', '新臺幣十一元'],
    ['12', '新臺幣十二元'],
    ['19', '新臺幣十九元'],
    ['20', '新臺幣二十元'],
    ['22', '新臺幣二十二元'],
    ['32', '新臺幣三十二元'],
    ['99', '新臺幣九十九元'],
    ['100', '新臺幣一百元'],
    ['101', '新臺幣一百零一元'],
    ['102', '新臺幣一百零二元'],
    ['110', '新臺幣一百一十元'],
    ['111', '新臺幣一百一十一元'],
    ['120', '新臺幣一百二十元'],
    ['200', '新臺幣兩百元'],
    ['222', '新臺幣兩百二十二元'],
    ['999', '新臺幣九百九十九元'],
    ['1000', '新臺幣一千元'],
    ['1001', '新臺幣一千零一元'],
    ['1010', '新臺幣一千零一十元'],
    ['1100', '新臺幣一千一百元'],
    ['1200', '新臺幣一千兩百元'],
    ['1205.07', '新臺幣一千兩百零五元零七分'],
    ['2000', '新臺幣兩千元'],
    ['2002', '新臺幣兩千零二元'],
    ['2222', '新臺幣兩千兩百二十二元'],
    ['10000', '新臺幣一萬元'],
    ['10001', '新臺幣一萬零一元'],
    ['10010', '新臺幣一萬零一十元'],
    ['10100', '新臺幣一萬零一百元'],
    ['11000', '新臺幣一萬一千元'],
    ['12000', '新臺幣一萬兩千元'],
    ['20000', '新臺幣兩萬元'],
    ['20002', '新臺幣兩萬零二元'],
    ['22000', '新臺幣兩萬兩千元'],
    ['100000', '新臺幣十萬元'],
    ['100010', '新臺幣十萬零一十元'],
    ['101000', '新臺幣十萬一千元'],
    ['110000', '新臺幣十一萬元'],
    ['120000', '新臺幣十二萬元'],
    ['200000', '新臺幣二十萬元'],
    ['1000000', '新臺幣一百萬元'],
    ['1000100', '新臺幣一百萬零一百元'],
    ['1100000', '新臺幣一百一十萬元'],
    ['2000000', '新臺幣兩百萬元'],
    ['10000000', '新臺幣一千萬元'],
    ['12345678.90', '新臺幣一千兩百三十四萬五千六百七十八元九角'],
    ['20000000', '新臺幣兩千萬元'],
    ['20000020', '新臺幣兩千萬零二十元'],
    ['22000000', '新臺幣兩千兩百萬元'],
    ['30020000', '新臺幣三千零二萬元'],
    ['99999999', '新臺幣九千九百九十九萬九千九百九十九元'],
    ['99999999.99', '新臺幣九千九百九十九萬九千九百九十九元九角九分'],
    ['100000000', '新臺幣一億元'],
    ['100000001', '新臺幣一億零一元'],
    ['100010000', '新臺幣一億零一萬元'],
    ['100020000', '新臺幣一億零兩萬元'],
    ['120000000', '新臺幣一億兩千萬元'],
    ['200000000', '新臺幣兩億元'],
    ['1000000000', '新臺幣十億元'],
    ['1000200000', '新臺幣十億零二十萬元'],
    ['9999999999.99', '新臺幣九十九億九千九百九十九萬九千九百九十九元九角九分'],
  ])('%s TWD → %s', (amount, text) => {
    expect(spoken(say(amount, 'TWD'))).toBe(text);
    expect(say(amount, 'TWD')).toEqual(clips(text));
  });
});

describe('sayAmount zh-TW, USD (美元 … 美分)', () => {
  it.each([
    ['0', '零美元'],
    ['0.01', '一美分'],
    ['0.02', '兩美分'],
    ['0.05', '五美分'],
    ['0.10', '十美分'],
    ['0.20', '二十美分'],
    ['0.22', '二十二美分'],
    ['1', '一美元'],
    ['1.01', '一美元一美分'],
    ['2', '兩美元'],
    ['2.02', '兩美元兩美分'],
    ['10', '十美元'],
    ['11', '十一美元'],
    ['20', '二十美元'],
    ['100', '一百美元'],
    ['101', '一百零一美元'],
    ['110', '一百一十美元'],
    ['200', '兩百美元'],
    ['1000', '一千美元'],
    ['1001', '一千零一美元'],
    ['1205.07', '一千兩百零五美元七美分'],
    ['2000', '兩千美元'],
    ['10000', '一萬美元'],
    ['10010', '一萬零一十美元'],
    ['20000', '兩萬美元'],
    ['100000', '十萬美元'],
    ['2000000', '兩百萬美元'],
    ['20000000', '兩千萬美元'],
    ['99999999', '九千九百九十九萬九千九百九十九美元'],
    ['99999999.99', '九千九百九十九萬九千九百九十九美元九十九美分'],
  ])('%s USD → %s', (amount, text) => {
    expect(spoken(say(amount, 'USD'))).toBe(text);
    expect(say(amount, 'USD')).toEqual(clips(text));
  });
});

describe('sayAmount zh-TW, other currencies', () => {
  it.each([
    ['CNY', '1.05', '人民幣一元零五分'],
    ['HKD', '20', '港幣二十元'],
    ['EUR', '2.50', '兩歐元五十歐分'],
    ['GBP', '3.02', '三英鎊兩便士'],
    ['JPY', '2000000', '兩百萬日圓'],
    ['JPY', '1000000000000', '一兆日圓'],
  ])('%s %s → %s', (currency, amount, text) => {
    expect(spoken(say(amount, currency))).toBe(text);
  });

  it('reads every currency callpay bills in', () => {
    expect(spokenCurrencies('zh-TW').sort()).toEqual(Object.keys(CURRENCY_EXPONENTS).sort());
  });
});

const DIGIT: Record<string, number> = { 零: 0, 一: 1, 二: 2, 兩: 2, 三: 3, 四: 4, 五: 5, 六: 6, 七: 7, 八: 8, 九: 9 };
const PLACE: Record<string, number> = { 十: 10, 百: 100, 千: 1000 };
const GROUP: Record<string, number> = { 萬: 1e4, 億: 1e8, 兆: 1e12 };

/** Reads a Mandarin numeral back to a number: an independent check of grouping and 零. */
function readBack(text: string): number {
  let total = 0;
  let section = 0;
  let digit = 0;
  let sawDigit = false;
  for (const ch of text) {
    if (ch in DIGIT) {
      digit = DIGIT[ch]!;
      sawDigit = true;
    } else if (ch in PLACE) {
      section += (sawDigit ? digit : 1) * PLACE[ch]!;
      digit = 0;
      sawDigit = false;
    } else if (ch in GROUP) {
      // a larger group unit scales everything said since the last larger one: 十萬 … 億
      const unit = GROUP[ch]!;
      const lower = total % unit;
      total = total - lower + (lower + section + digit) * unit;
      section = 0;
      digit = 0;
      sawDigit = false;
    } else throw new Error(`not a numeral character: ${ch}`);
  }
  return total + section + digit;
}

describe('zhSayNumber properties', () => {
  const next = random(8_8888);
  const samples = [
    ...Array.from({ length: 3000 }, (_, i) => i + 1),
    ...Array.from({ length: 3000 }, () => 1 + next(100_000_000)),
    // numbers full of zeros exercise 零 the most
    ...Array.from({ length: 2000 }, () => {
      let n = 0;
      for (let d = 0; d < 12; d++) n = n * 10 + (next(3) === 0 ? 1 + next(9) : 0);
      return Math.max(1, n);
    }),
  ];

  it('reads back to the same number', () => {
    for (const n of samples) expect(readBack(spoken(zhSayNumber(n))), `${n}: ${spoken(zhSayNumber(n))}`).toBe(n);
  });

  it('says 零 once per gap, never first or last, and 兩/二 and 十/一十 as spoken', () => {
    for (const n of samples) {
      for (const measure of [false, true]) {
        const text = spoken(zhSayNumber(n, { measure }));
        const why = `${n}: ${text}`;
        expect(text, why).not.toMatch(/零零|^零|零$|零[萬億兆]/);
        // 兩 before 百 and 千 and as a whole 萬/億 group; 二 before 十, as a trailing unit, and as the
        // unit of a larger 萬/億 group (五十二萬, 一百零二萬)
        expect(text, why).not.toMatch(/兩十|二[百千]|(^|[^十零])二[萬億兆]/);
        expect(text, why).not.toMatch(/[十百千萬億兆零]兩$|十兩[萬億兆]/);
        // 一十 only after a higher place; a leading 十 only at the very start
        expect(text, why).not.toMatch(/^一十/);
        expect(text, why).not.toMatch(/(?<=.)(?<![一二三四五六七八九])十/);
      }
    }
  });

  it('uses only clips of the zh-TW inventory', () => {
    const inventory = new Set(amountClips('zh-TW'));
    for (const n of samples) for (const c of zhSayNumber(n)) expect(inventory.has(c), c).toBe(true);
  });
});
