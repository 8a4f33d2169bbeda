import { invalidField } from './errors.js';
import { checkText } from './text.js';
import type { Locale } from './locale.js';

export { LOCALES, isLocale, parseLocale, type Locale } from './locale.js';

export const CONSUMER_STATUSES = ['active', 'locked', 'closed'] as const;
export type ConsumerStatus = (typeof CONSUMER_STATUSES)[number];

/** Per-consumer flexible policy; amounts in minor units, 0 = the step is always required. */
export interface ConsumerPolicy {
  passwordAbove: number;
  callAbove: number;
  /** Frictionless allowance since the last full authorization; null = none. */
  frictionlessAmount: number | null;
  frictionlessCount: number | null;
}

export const DEFAULT_POLICY: ConsumerPolicy = {
  passwordAbove: 0,
  callAbove: 0,
  frictionlessAmount: null,
  frictionlessCount: null,
};

const LOGIN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@+-]{2,63}$/;

/** Login accounts are matched case-insensitively; the index is built from this form. */
export function normalizeLogin(input: string, field = 'login'): string {
  const login = input.trim();
  if (!LOGIN_PATTERN.test(login)) {
    throw invalidField(field, 'expected 3 to 64 characters: letters, digits and . _ @ + - (starting with a letter or digit)');
  }
  return login.toLowerCase();
}

export function parsePin(input: string, field = 'pin'): string {
  if (!/^\d{4,8}$/.test(input)) throw invalidField(field, 'expected 4 to 8 digits (0-9) and nothing else');
  return input;
}

export function parsePassword(input: string, field = 'password'): string {
  if ([...input].length < 8) throw invalidField(field, 'expected at least 8 characters');
  if ([...input].length > 128) throw invalidField(field, 'expected at most 128 characters');
  checkText(field, input);
  return input.normalize('NFC');
}

/** National IDs vary by country; we keep them as typed (upper-cased), bounded and printable. */
export function parseNationalId(input: string, field = 'national-id'): string {
  const id = input.trim().toUpperCase();
  if (!/^[A-Z0-9][A-Z0-9 -]{3,31}$/.test(id)) {
    throw invalidField(field, 'expected 4 to 32 letters, digits, spaces or dashes');
  }
  return id;
}

export function parseAddress(input: string, field = 'address'): string {
  const address = input.trim().normalize('NFC');
  if (address.length < 3 || address.length > 300) throw invalidField(field, 'expected 3 to 300 characters');
  return checkText(field, address);
}

export function maskNationalId(id: string): string {
  return id.length <= 2 ? '*'.repeat(id.length) : `${id[0]}${'*'.repeat(id.length - 2)}${id.at(-1)}`;
}

export function maskAddress(address: string): string {
  return `*** (${[...address].length} characters)`;
}

/** A consumer as the application sees it: personal data opened, secrets kept as hashes only. */
export interface Consumer {
  id: string;
  login: string;
  phone: string;
  nationalId: string;
  address: string;
  locale: Locale;
  status: ConsumerStatus;
  policy: ConsumerPolicy;
  hasPassword: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface NewConsumer {
  login: string;
  phone: string;
  nationalId: string;
  address: string;
  locale: Locale;
  pinHash: string;
  passwordHash: string | null;
  policy: ConsumerPolicy;
}

export type ConsumerChanges = Partial<Pick<Consumer, 'phone' | 'nationalId' | 'address' | 'locale'>>;
