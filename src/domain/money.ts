import { invalidField } from './errors.js';

/** ISO 4217 minor-unit exponents of the currencies callpay bills in. */
export const CURRENCY_EXPONENTS: Readonly<Record<string, number>> = {
  TWD: 2, USD: 2, EUR: 2, GBP: 2, CNY: 2, HKD: 2, JPY: 0,
};

export function parseCurrency(input: string, field = 'currency'): string {
  const code = input.trim().toUpperCase();
  if (!(code in CURRENCY_EXPONENTS)) {
    throw invalidField(field, `expected one of ${Object.keys(CURRENCY_EXPONENTS).join(', ')}`);
  }
  return code;
}

export function exponentOf(currency: string): number {
  const exponent = CURRENCY_EXPONENTS[currency];
  if (exponent === undefined) throw invalidField('currency', `unknown currency ${currency}`);
  return exponent;
}

/** Largest amount we accept anywhere: keeps sums far inside Number.MAX_SAFE_INTEGER. */
export const MAX_MINOR_AMOUNT = 1_000_000_000_000;

/**
 * "1500", "1500.5", "1500.50" in major units → integer minor units, parsed as text (never a float).
 * Used where people type amounts (CLI); the HTTP API takes minor units directly.
 */
export function parseMajorAmount(input: string, currency: string, field = 'amount'): number {
  const exponent = exponentOf(currency);
  const match = /^(\d{1,13})(?:\.(\d+))?$/.exec(input.trim());
  if (!match) throw invalidField(field, `expected a non-negative amount like 1500 or 1500.50 (${currency})`);
  const [, whole = '', fraction = ''] = match;
  if (fraction.length > exponent) {
    throw invalidField(field, `${currency} has ${exponent} decimal places, got ${fraction.length}`);
  }
  const minor = Number(whole) * 10 ** exponent + Number(fraction.padEnd(exponent, '0') || '0');
  if (minor > MAX_MINOR_AMOUNT) throw invalidField(field, 'amount too large');
  return minor;
}

/** 150050, "TWD" → "1500.50 TWD". */
export function formatMinor(minor: number, currency: string): string {
  const exponent = exponentOf(currency);
  const sign = minor < 0 ? '-' : '';
  const digits = String(Math.abs(minor)).padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent);
  const fraction = exponent > 0 ? `.${digits.slice(-exponent)}` : '';
  return `${sign}${whole}${fraction} ${currency}`;
}
