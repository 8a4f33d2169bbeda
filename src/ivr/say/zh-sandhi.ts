/**
 * Mandarin tone sandhi for amounts spoken as one phrase (Taiwan usage). Clip by clip, every syllable
 * carries its citation tone: 一百 comes out yī bǎi and 五百 wǔ bǎi, which no speaker says. A phrase
 * synthesizer given tone-numbered pinyin says what it is given (espeak-ng's cmn-latn-pinyin voice
 * does not apply the 一 and 不 changes itself), so the tones are adjusted here. Pure: no I/O.
 *
 * Rules, in this order (each reads the following syllable's citation tone):
 * - 不 bù: before a 4th tone it is bú (不是 bú shì, 不正確 bú zhèng què); otherwise bù.
 * - 一 yī: before a 4th tone (or a neutral one: 一個 yí ge) it is yí (一萬 yí wàn,
 *   一億 yí yì); before a 1st, 2nd or 3rd tone it is yì (一千 yì qiān, 一元 yì yuán, 一百 yì bǎi).
 *   It keeps yī when counted rather than measured: at the end, and inside a number as a units digit
 *   (十一 shí yī, 十一萬 shí yī wàn, 一百零一元 … líng yī yuán), or before 十 (一百一十 yì bǎi yī shí). The caller marks
 *   such syllables `counting`; zhAmountSyllables does it for amounts.
 * - Third tones: in a run of 3rd tones every one but the last becomes 2nd (五百 wú bǎi, 兩百 liáng bǎi,
 *   九九 jiú jiǔ). Real speech groups long runs by prosodic word; one run per phrase is what a number
 *   reading needs (runs longer than two are rare in amounts: 五百五 …).
 *
 * 兩 vs 二 is a choice of word, not of tone: zhSayNumber picks digits/liang or digits/2.
 */

export type Tone = 1 | 2 | 3 | 4 | 5;

export interface Syllable {
  hanzi: string;
  /** Toneless pinyin: "yi", "liang". */
  pinyin: string;
  tone: Tone;
  /** 一 read as a counted digit: keeps its first tone. */
  counting?: boolean;
}

export function applyToneSandhi(syllables: readonly Syllable[]): Syllable[] {
  const out = syllables.map((s) => ({ ...s }));
  for (let i = 0; i < out.length; i++) {
    const s = out[i]!;
    const next = syllables[i + 1];
    if (s.hanzi === '不' && s.pinyin === 'bu') s.tone = next?.tone === 4 ? 2 : 4;
    if (s.hanzi === '一' && s.pinyin === 'yi' && !s.counting && next) s.tone = next.tone === 4 || next.tone === 5 ? 2 : 4;
  }
  // Right to left over each run of 3rd tones: all but the run's last become 2nd.
  for (let i = out.length - 2; i >= 0; i--) {
    if (out[i]!.tone === 3 && syllables[i + 1]!.tone === 3) out[i]!.tone = 2;
  }
  return out;
}

/** Tone-numbered pinyin, as espeak-ng's cmn-latn-pinyin voice reads it: "yi4 qian1 liang2 bai3". */
export function pinyinOf(syllables: readonly Syllable[]): string {
  return syllables.map((s) => `${s.pinyin}${s.tone}`).join(' ');
}

const syl = (hanzi: string, pinyin: string, tone: Tone): Syllable => ({ hanzi, pinyin, tone });

/** Each zh-TW amount clip (ivr/say/zh-tw.ts) as its syllables in citation tones. */
export const ZH_CLIP_SYLLABLES: Readonly<Record<string, readonly Syllable[]>> = {
  'digits/0': [syl('零', 'ling', 2)],
  'digits/1': [syl('一', 'yi', 1)],
  'digits/2': [syl('二', 'er', 4)],
  'digits/3': [syl('三', 'san', 1)],
  'digits/4': [syl('四', 'si', 4)],
  'digits/5': [syl('五', 'wu', 3)],
  'digits/6': [syl('六', 'liu', 4)],
  'digits/7': [syl('七', 'qi', 1)],
  'digits/8': [syl('八', 'ba', 1)],
  'digits/9': [syl('九', 'jiu', 3)],
  'digits/liang': [syl('兩', 'liang', 3)],
  'digits/10': [syl('十', 'shi', 2)],
  'digits/100': [syl('百', 'bai', 3)],
  'digits/1000': [syl('千', 'qian', 1)],
  'digits/10000': [syl('萬', 'wan', 4)],
  'digits/100000000': [syl('億', 'yi', 4)],
  'digits/1000000000000': [syl('兆', 'zhao', 4)],
  'currency/twd': [syl('新', 'xin', 1), syl('臺', 'tai', 2), syl('幣', 'bi', 4)],
  'currency/cny': [syl('人', 'ren', 2), syl('民', 'min', 2), syl('幣', 'bi', 4)],
  'currency/hkd': [syl('港', 'gang', 3), syl('幣', 'bi', 4)],
  'currency/yuan': [syl('元', 'yuan', 2)],
  'currency/jiao': [syl('角', 'jiao', 3)],
  'currency/fen': [syl('分', 'fen', 1)],
  'currency/usd': [syl('美', 'mei', 3), syl('元', 'yuan', 2)],
  'currency/usd-cent': [syl('美', 'mei', 3), syl('分', 'fen', 1)],
  'currency/eur': [syl('歐', 'ou', 1), syl('元', 'yuan', 2)],
  'currency/eur-cent': [syl('歐', 'ou', 1), syl('分', 'fen', 1)],
  'currency/gbp': [syl('英', 'ying', 1), syl('鎊', 'bang', 4)],
  'currency/gbp-penny': [syl('便', 'bian', 4), syl('士', 'shi', 4)],
  'currency/jpy': [syl('日', 'ri', 4), syl('圓', 'yuan', 2)],
};

/** Places and groups before which a leading 一 is measured (一百 yì bǎi, 一萬 yí wàn), not counted. */
const MEASURED_BEFORE = new Set(['digits/100', 'digits/1000', 'digits/10000', 'digits/100000000', 'digits/1000000000000']);

/**
 * An amount's clips (sayAmount zh-TW) as syllables with sandhi applied. Throws Error for a clip the
 * table lacks (a new currency needs its row above as well as its clip).
 */
export function zhAmountSyllables(clips: readonly string[]): Syllable[] {
  const out: Syllable[] = [];
  clips.forEach((clip, i) => {
    const syllables = ZH_CLIP_SYLLABLES[clip];
    if (!syllables) throw new Error(`zhAmountSyllables: no syllables for clip ${clip}`);
    for (const s of syllables) {
      if (clip !== 'digits/1') {
        out.push({ ...s });
        continue;
      }
      const prev = clips[i - 1];
      const next = clips[i + 1];
      // A whole number 1 before its unit (一元, 一分) is measured too; 十一元's 一 is a units digit.
      const wholeOne = (prev === undefined || !prev.startsWith('digits/')) && next !== undefined && next.startsWith('currency/');
      // 十一萬's 一 is the units digit of its group, counted like 十一's.
      const leadsPlace = next !== undefined && MEASURED_BEFORE.has(next) && prev !== 'digits/10';
      out.push({ ...s, counting: !leadsPlace && !wholeOne });
    }
  });
  return applyToneSandhi(out);
}
