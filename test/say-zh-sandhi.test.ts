import { describe, expect, it } from 'vitest';
import { parseMajorAmount } from '../src/domain/money.js';
import { applyToneSandhi, pinyinOf, sayAmount, speechOf, zhAmountSyllables, type Syllable, type Tone } from '../src/ivr/say/index.js';

/** Issue 17: zh-TW amounts as one phrase with tone sandhi (一, 不, third tones; 兩 vs 二). */

const phrase = (amount: string, currency = 'TWD') => pinyinOf(zhAmountSyllables(sayAmount(parseMajorAmount(amount, currency), currency, 'zh-TW')));
const hanzi = (amount: string, currency = 'TWD') => zhAmountSyllables(sayAmount(parseMajorAmount(amount, currency), currency, 'zh-TW')).map((s) => s.hanzi).join('');

/** "bu4 shi4" → syllables (hanzi from a tiny table), for the rules on words outside amounts. */
const HANZI: Record<string, string> = { bu: '不', yi: '一', shi: '是', dui: '對', hao: '好', xing: '行', ge: '個', tian: '天', nian: '年', zhong: '種', ni: '你', zhan: '展', lan: '覽', guan: '館' };
function parse(text: string): Syllable[] {
  return text.split(' ').map((w) => {
    const [, pinyin, tone] = /^([a-z]+)([1-5])$/.exec(w)!;
    return { hanzi: HANZI[pinyin!] ?? '?', pinyin: pinyin!, tone: Number(tone) as Tone };
  });
}
const sandhi = (text: string) => pinyinOf(applyToneSandhi(parse(text)));

describe('tone sandhi rules (pure)', () => {
  it.each([
    // 不: bú before a 4th tone, bù otherwise
    ['bu4 shi4', 'bu2 shi4'],
    ['bu4 dui4', 'bu2 dui4'],
    ['bu4 xing2', 'bu4 xing2'],
    ['bu4 hao3', 'bu4 hao3'],
    ['bu4', 'bu4'],
    // 一: yí before a 4th (or neutral) tone, yì before 1st/2nd/3rd, yī at the end
    ['yi1 ge5', 'yi2 ge5'],
    ['yi1 tian1', 'yi4 tian1'],
    ['yi1 nian2', 'yi4 nian2'],
    ['yi1 zhong3', 'yi4 zhong3'],
    ['yi1', 'yi1'],
    // third tones: every one of a run but the last rises
    ['ni3 hao3', 'ni2 hao3'],
    ['zhan3 lan3 guan3', 'zhan2 lan2 guan3'],
  ])('%s → %s', (given, said) => {
    expect(sandhi(given)).toBe(said);
  });

  it('keeps a counted 一 in its first tone, and reads citation tones of the next syllable', () => {
    expect(pinyinOf(applyToneSandhi([{ hanzi: '一', pinyin: 'yi', tone: 1, counting: true }, { hanzi: '是', pinyin: 'shi', tone: 4 }]))).toBe('yi1 shi4');
    // 不 before 一 (1st in citation): bù, and 一 then changes by what follows it
    expect(sandhi('bu4 yi1 ge5')).toBe('bu4 yi2 ge5');
  });
});

describe('zh-TW amounts as one phrase', () => {
  it.each([
    // 一 measured before 百/千/萬/億 and a lone 1 before its unit; counted as a units digit and before 十
    ['1', '新臺幣一元', 'xin1 tai2 bi4 yi4 yuan2'],
    ['100', '新臺幣一百元', 'xin1 tai2 bi4 yi4 bai3 yuan2'],
    ['1000', '新臺幣一千元', 'xin1 tai2 bi4 yi4 qian1 yuan2'],
    ['10000', '新臺幣一萬元', 'xin1 tai2 bi4 yi2 wan4 yuan2'],
    ['100000000', '新臺幣一億元', 'xin1 tai2 bi4 yi2 yi4 yuan2'],
    ['11', '新臺幣十一元', 'xin1 tai2 bi4 shi2 yi1 yuan2'],
    ['101', '新臺幣一百零一元', 'xin1 tai2 bi4 yi4 bai3 ling2 yi1 yuan2'],
    ['110', '新臺幣一百一十元', 'xin1 tai2 bi4 yi4 bai3 yi1 shi2 yuan2'],
    ['1100', '新臺幣一千一百元', 'xin1 tai2 bi4 yi4 qian1 yi4 bai3 yuan2'],
    ['110000', '新臺幣十一萬元', 'xin1 tai2 bi4 shi2 yi1 wan4 yuan2'],
    // 兩 vs 二: 兩 before 百/千/萬 and a lone 2 before its unit; 二 before 十 and as a units digit
    ['2', '新臺幣兩元', 'xin1 tai2 bi4 liang3 yuan2'],
    ['200', '新臺幣兩百元', 'xin1 tai2 bi4 liang2 bai3 yuan2'],
    ['2000', '新臺幣兩千元', 'xin1 tai2 bi4 liang3 qian1 yuan2'],
    ['20000', '新臺幣兩萬元', 'xin1 tai2 bi4 liang3 wan4 yuan2'],
    ['22', '新臺幣二十二元', 'xin1 tai2 bi4 er4 shi2 er4 yuan2'],
    ['1202', '新臺幣一千兩百零二元', 'xin1 tai2 bi4 yi4 qian1 liang2 bai3 ling2 er4 yuan2'],
    // third-tone runs: 五百 wú bǎi; in 九百九 every 3rd tone of the run but the last rises
    ['500', '新臺幣五百元', 'xin1 tai2 bi4 wu2 bai3 yuan2'],
    ['990', '新臺幣九百九十元', 'xin1 tai2 bi4 jiu2 bai2 jiu3 shi2 yuan2'],
    ['995', '新臺幣九百九十五元', 'xin1 tai2 bi4 jiu2 bai2 jiu3 shi2 wu3 yuan2'],
    ['959', '新臺幣九百五十九元', 'xin1 tai2 bi4 jiu2 bai2 wu3 shi2 jiu3 yuan2'],
    // minor units
    ['0.10', '新臺幣一角', 'xin1 tai2 bi4 yi4 jiao3'],
    ['1.05', '新臺幣一元零五分', 'xin1 tai2 bi4 yi4 yuan2 ling2 wu3 fen1'],
    ['0', '新臺幣零元', 'xin1 tai2 bi4 ling2 yuan2'],
  ])('TWD %s: %s', (amount, text, pinyin) => {
    expect(hanzi(amount)).toBe(text);
    expect(phrase(amount)).toBe(pinyin);
  });

  it('other currencies', () => {
    expect(phrase('1.01', 'USD')).toBe('yi4 mei3 yuan2 yi4 mei3 fen1');
    expect(phrase('5', 'HKD')).toBe('gang3 bi4 wu3 yuan2');
    expect(phrase('15', 'EUR')).toBe('shi2 wu3 ou1 yuan2');
    expect(phrase('1', 'GBP')).toBe('yi4 ying1 bang4');
    expect(phrase('100', 'JPY')).toBe('yi4 bai3 ri4 yuan2');
  });

  it('is what the zh-TW speech gives its synthesizer; en-US has no phrase reading', () => {
    expect(speechOf('zh-TW').amountPhrase?.(sayAmount(20000, 'TWD', 'zh-TW'))).toBe('xin1 tai2 bi4 liang2 bai3 yuan2');
    expect(speechOf('en-US').amountPhrase).toBeUndefined();
    expect(() => zhAmountSyllables(['digits/1', 'currency/zzz'])).toThrow(/currency\/zzz/);
  });
});
