import { describe, expect, it } from 'vitest';
import { CURRENCY_EXPONENTS, parseMajorAmount } from '../src/domain/money.js';
import { amountClips, enSayNumber, sayAmount, spokenCurrencies } from '../src/ivr/say/index.js';
import { random } from './helpers/random.js';

/**
 * Expected clips written as words: a number or scale word is digits/<word>, anything else is
 * currency/<word>. '1 thousand 2 hundred 5 dollars and 7 cents' →
 * digits/1 digits/thousand digits/2 digits/hundred digits/5 currency/dollars currency/and digits/7 currency/cents
 */
function clips(words: string): string[] {
  return words.split(' ').map((w) =>
    /^\d+$/.test(w) || ['hundred', 'thousand', 'million', 'billion', 'trillion'].includes(w) ? `digits/${w}` : `currency/${w}`,
  );
}

const say = (amount: string, currency: string) => sayAmount(parseMajorAmount(amount, currency), currency, 'en-US');

describe('sayAmount en-US, USD', () => {
  it('spells out the issue example clip by clip', () => {
    expect(sayAmount(120507, 'USD', 'en-US')).toEqual([
      'digits/1', 'digits/thousand', 'digits/2', 'digits/hundred', 'digits/5',
      'currency/dollars', 'currency/and', 'digits/7', 'currency/cents',
    ]);
  });

  it.each([
    ['0', '0 dollars'],
    ['0.01', '1 cent'],
    ['0.05', '5 cents'],
    ['0.10', '10 cents'],
    ['0.11', '11 cents'],
    ['0.21', '20 1 cents'],
    ['0.99', '90 9 cents'],
    ['1', '1 dollar'],
    ['1.01', '1 dollar and 1 cent'],
    ['1.50', '1 dollar and 50 cents'],
    ['2', '2 dollars'],
    ['9', '9 dollars'],
    ['10', '10 dollars'],
    ['11', '11 dollars'],
    ['12', '12 dollars'],
    ['13', '13 dollars'],
    ['15', '15 dollars'],
    ['19', '19 dollars'],
    ['20', '20 dollars'],
    ['21', '20 1 dollars'],
    ['40', '40 dollars'],
    ['45.45', '40 5 dollars and 40 5 cents'],
    ['99', '90 9 dollars'],
    ['100', '1 hundred dollars'],
    ['101', '1 hundred 1 dollars'],
    ['110', '1 hundred 10 dollars'],
    ['111', '1 hundred 11 dollars'],
    ['120', '1 hundred 20 dollars'],
    ['999', '9 hundred 90 9 dollars'],
    ['1000', '1 thousand dollars'],
    ['1001', '1 thousand 1 dollars'],
    ['1010', '1 thousand 10 dollars'],
    ['1100', '1 thousand 1 hundred dollars'],
    ['1205.07', '1 thousand 2 hundred 5 dollars and 7 cents'],
    ['2000', '2 thousand dollars'],
    ['10000', '10 thousand dollars'],
    ['10010', '10 thousand 10 dollars'],
    ['11000', '11 thousand dollars'],
    ['20000', '20 thousand dollars'],
    ['100000', '1 hundred thousand dollars'],
    ['100001', '1 hundred thousand 1 dollars'],
    ['101000', '1 hundred 1 thousand dollars'],
    ['999999', '9 hundred 90 9 thousand 9 hundred 90 9 dollars'],
    ['1000000', '1 million dollars'],
    ['1000001', '1 million 1 dollars'],
    ['2000000', '2 million dollars'],
    ['12345678.90', '12 million 3 hundred 40 5 thousand 6 hundred 70 8 dollars and 90 cents'],
    ['20000000', '20 million dollars'],
    ['20000020', '20 million 20 dollars'],
    ['99999999', '90 9 million 9 hundred 90 9 thousand 9 hundred 90 9 dollars'],
    ['99999999.99', '90 9 million 9 hundred 90 9 thousand 9 hundred 90 9 dollars and 90 9 cents'],
    ['100000000', '1 hundred million dollars'],
    ['1000000000', '1 billion dollars'],
    ['9999999999.99', '9 billion 9 hundred 90 9 million 9 hundred 90 9 thousand 9 hundred 90 9 dollars and 90 9 cents'],
  ])('%s USD', (amount, words) => {
    expect(say(amount, 'USD')).toEqual(clips(words));
  });
});

describe('sayAmount en-US, other currencies', () => {
  it.each([
    ['TWD', '0', '0 new-taiwan-dollars'],
    ['TWD', '0.05', '5 cents'],
    ['TWD', '1', '1 new-taiwan-dollar'],
    ['TWD', '10', '10 new-taiwan-dollars'],
    ['TWD', '1205.07', '1 thousand 2 hundred 5 new-taiwan-dollars and 7 cents'],
    ['TWD', '20000000', '20 million new-taiwan-dollars'],
    ['TWD', '99999999', '90 9 million 9 hundred 90 9 thousand 9 hundred 90 9 new-taiwan-dollars'],
    ['HKD', '1.01', '1 hong-kong-dollar and 1 cent'],
    ['EUR', '2.50', '2 euros and 50 cents'],
    ['GBP', '1.01', '1 pound and 1 penny'],
    ['GBP', '3.02', '3 pounds and 2 pence'],
    ['CNY', '1.05', '1 yuan and 5 fen'],
    ['JPY', '1', '1 yen'],
    ['JPY', '1000000000000', '1 trillion yen'],
  ])('%s %s', (currency, amount, words) => {
    expect(say(amount, currency)).toEqual(clips(words));
  });

  it('reads every currency callpay bills in', () => {
    expect(spokenCurrencies('en-US').sort()).toEqual(Object.keys(CURRENCY_EXPONENTS).sort());
  });
});

describe('sayAmount misuse', () => {
  it.each([-1, 1.5, Number.NaN, 1_000_000_000_001])('rejects %s minor units', (minor) => {
    expect(() => sayAmount(minor, 'USD', 'en-US')).toThrow(RangeError);
  });

  it('rejects an unknown currency', () => {
    expect(() => sayAmount(100, 'XYZ', 'en-US')).toThrow(/currency/);
  });
});

/** Reads English number clips back to a number: an independent check of the grouping. */
function readBack(words: string[]): number {
  const scales: Record<string, number> = { thousand: 1e3, million: 1e6, billion: 1e9, trillion: 1e12 };
  let total = 0;
  let group = 0;
  for (const w of words.map((c) => c.replace('digits/', ''))) {
    if (w === 'hundred') group *= 100;
    else if (w in scales) {
      total += group * scales[w]!;
      group = 0;
    } else group += Number(w);
  }
  return total + group;
}

describe('enSayNumber properties', () => {
  const next = random(20240605);
  const samples = [
    ...Array.from({ length: 2000 }, (_, i) => i),
    ...Array.from({ length: 3000 }, () => next(100_000_000)),
    ...Array.from({ length: 500 }, () => next(1_000_000_000_000)),
  ];

  it('reads back to the same number, with teens and tens as single words', () => {
    for (const n of samples) {
      const words = enSayNumber(n);
      expect(readBack(words), `${n}: ${words.join(' ')}`).toBe(n);
      // "ten one" or "twenty ten" would read back right but is not English
      for (let i = 0; i + 1 < words.length; i++) {
        const a = Number(words[i]!.slice(7));
        const b = Number(words[i + 1]!.slice(7));
        if (a >= 10 && a <= 19) expect(b >= 1 && b <= 99, `${n}: ${words.join(' ')}`).toBe(false);
        if (a >= 20 && a <= 90) expect(b >= 10 && b <= 99, `${n}: ${words.join(' ')}`).toBe(false);
      }
    }
  });

  it('uses only clips of the en-US inventory', () => {
    const inventory = new Set(amountClips('en-US'));
    for (const n of samples) for (const c of enSayNumber(n)) expect(inventory.has(c), c).toBe(true);
  });
});
