import { invalidField } from '../domain/errors.js';
import { CURRENCY_EXPONENTS, MAX_MINOR_AMOUNT } from '../domain/money.js';
import { isAllowedText } from '../domain/text.js';
import { validMac, type Mac } from './tokens.js';

/**
 * What a printed payment QR carries. `amount` is in minor units (15000 = TWD 150.00), like the API;
 * without it the consumer types the amount. Without `currency` the daemon's default applies.
 */
export interface PayLinkParams {
  amount?: number | undefined;
  currency?: string | undefined;
  reference?: string | undefined;
  description?: string | undefined;
}

const KEYS = ['amount', 'currency', 'reference', 'description'] as const;

function checkText(field: string, value: string | undefined, max: number): void {
  if (value === undefined) return;
  if (value.length < 1 || value.length > max || !isAllowedText(value)) {
    throw invalidField(field, `expected 1 to ${max} characters without control or text-direction characters`);
  }
}

/** Validates the parameters of a pay link; throws invalid_field naming the first bad one. */
export function checkPayLinkParams(params: PayLinkParams): PayLinkParams {
  const { amount, currency, reference, description } = params;
  if (amount !== undefined && (!Number.isSafeInteger(amount) || amount < 1 || amount > MAX_MINOR_AMOUNT)) {
    throw invalidField('amount', 'expected a whole number of minor units above 0');
  }
  if (currency !== undefined && !(currency in CURRENCY_EXPONENTS)) {
    throw invalidField('currency', `expected one of ${Object.keys(CURRENCY_EXPONENTS).join(', ')}`);
  }
  checkText('reference', reference, 100);
  checkText('description', description, 200);
  return { amount, currency, reference, description };
}

/** The signed text: present parameters in a fixed order, percent-encoded ("amount=15000&currency=TWD"). */
export function canonicalPayQuery(params: PayLinkParams): string {
  return KEYS.flatMap((k) => (params[k] === undefined ? [] : [`${k}=${encodeURIComponent(String(params[k]))}`])).join('&');
}

/** base64url of keyring.mac('pay', "<merchantId>?<canonical query>"). */
export function payLinkSignature(keyring: Mac, merchantId: string, params: PayLinkParams): string {
  const checked = checkPayLinkParams(params);
  return keyring.mac('pay', `${merchantId}?${canonicalPayQuery(checked)}`).toString('base64url');
}

/** The full landing URL for a payment QR: `<publicUrl>/pay/<merchantId>?<params>&sig=<signature>`. */
export function buildPayLink(publicUrl: string, keyring: Mac, merchantId: string, params: PayLinkParams): string {
  const checked = checkPayLinkParams(params);
  const query = canonicalPayQuery(checked);
  const sig = payLinkSignature(keyring, merchantId, checked);
  return `${publicUrl.replace(/\/+$/, '')}/pay/${encodeURIComponent(merchantId)}?${query ? `${query}&` : ''}sig=${sig}`;
}

/**
 * Reads a landing request's query: the link's parameters when the signature matches, else
 * undefined. Parameters outside the signed set (e.g. `lang`) are ignored, never used.
 */
export function readPayLink(keyring: Mac, merchantId: string, query: Record<string, unknown>): PayLinkParams | undefined {
  const raw: Record<string, string | undefined> = {};
  for (const key of [...KEYS, 'sig'] as const) {
    const value = query[key];
    if (value !== undefined && typeof value !== 'string') return undefined; // repeated parameter
    raw[key] = value;
  }
  if (raw.amount !== undefined && !/^[1-9]\d{0,12}$/.test(raw.amount)) return undefined;
  let params: PayLinkParams;
  try {
    params = checkPayLinkParams({
      amount: raw.amount === undefined ? undefined : Number(raw.amount),
      currency: raw.currency,
      reference: raw.reference,
      description: raw.description,
    });
  } catch {
    return undefined;
  }
  return validMac(keyring, 'pay', `${merchantId}?${canonicalPayQuery(params)}`, raw.sig) ? params : undefined;
}
