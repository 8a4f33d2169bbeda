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
