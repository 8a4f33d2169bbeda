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
