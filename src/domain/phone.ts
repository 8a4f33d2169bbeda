import { invalidField } from './errors.js';

/**
 * E.164 numbers: "+", a country calling code, then the national number; 15 digits at most.
 * Calling codes form a prefix-free set: 1 and 7 are one digit, the two-digit ones are listed,
 * everything else is three digits. That is all we need to validate and to mask by country.
 */
const TWO_DIGIT_CODES = new Set([
  '20', '27', '30', '31', '32', '33', '34', '36', '39', '40', '41', '43', '44', '45', '46', '47', '48',
  '49', '51', '52', '53', '54', '55', '56', '57', '58', '60', '61', '62', '63', '64', '65', '66', '81',
  '82', '84', '86', '90', '91', '92', '93', '94', '95', '98',
]);

export interface PhoneNumber {
  readonly e164: string;
  readonly countryCode: string;
  readonly national: string;
}

function countryCodeOf(digits: string): string {
  if (digits.startsWith('1') || digits.startsWith('7')) return digits.slice(0, 1);
  const two = digits.slice(0, 2);
  return TWO_DIGIT_CODES.has(two) ? two : digits.slice(0, 3);
}

/** Taiwan (+886): landlines are an area code (2-8) and 6-8 digits; mobiles are 9 and 8 digits. */
function checkTaiwan(national: string): string | undefined {
  if (/^9\d{8}$/.test(national)) return undefined;
  if (/^[2-8]\d{6,8}$/.test(national)) return undefined;
  return 'not a valid Taiwan number (mobile +886 9xx xxx xxx, landline +886 <area> <number>)';
}

/** Accepts an E.164 number, tolerating spaces, dots, dashes and parentheses an operator may type. */
export function parsePhone(input: string, field = 'phone'): PhoneNumber {
  const compact = input.trim().replace(/[\s.\-()]/g, '');
  if (!/^\+[1-9]\d{6,14}$/.test(compact)) {
    throw invalidField(field, 'expected an E.164 number: "+", country code and number, 7 to 15 digits');
  }
  const digits = compact.slice(1);
  const countryCode = countryCodeOf(digits);
  const national = digits.slice(countryCode.length);
  if (national.length < 4) throw invalidField(field, 'number too short for its country code');
  if (countryCode === '886') {
    const problem = checkTaiwan(national);
    if (problem) throw invalidField(field, problem);
  }
  return { e164: compact, countryCode, national };
}

/** "+886912345678" → "+886 9** *** 678": first and last three national digits, groups of three. */
export function maskPhone(e164: string): string {
  const { countryCode, national } = parsePhone(e164);
  const masked = [...national].map((d, i) => (i === 0 || i >= national.length - 3 ? d : '*')).join('');
  const groups: string[] = [];
  for (let end = masked.length; end > 0; end -= 3) groups.unshift(masked.slice(Math.max(0, end - 3), end));
  return `+${countryCode} ${groups.join(' ')}`;
}

/** What a consumer may be told about the number being called: its last two digits. */
export function phoneEnding(e164: string): string {
  return e164.slice(-2);
}
