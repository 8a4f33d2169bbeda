import { invalidField } from './errors.js';
import { checkText } from './text.js';

export const MERCHANT_STATUSES = ['active', 'disabled'] as const;
export type MerchantStatus = (typeof MERCHANT_STATUSES)[number];

export function parseDisplayName(input: string, field = 'name'): string {
  const name = input.trim().normalize('NFC');
  if (name.length < 1 || name.length > 80) throw invalidField(field, 'expected 1 to 80 characters');
  return checkText(field, name);
}

/** Webhooks go to http(s) URLs without embedded credentials (they would end up in logs). */
export function parseWebhookUrl(input: string, field = 'webhook-url'): string {
  let url: URL;
  checkText(field, input.trim());
  try {
    url = new URL(input.trim());
  } catch {
    throw invalidField(field, 'expected an absolute http or https URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalidField(field, 'expected an http or https URL');
  if (url.username || url.password) throw invalidField(field, 'credentials in the URL are not allowed');
  if (url.href.length > 2048) throw invalidField(field, 'expected at most 2048 characters');
  return url.href;
}

export interface Merchant {
  id: string;
  displayName: string;
  spokenName: string;
  webhookUrl: string | null;
  /** Absolute path of a WAV clip saying the merchant's name (recorded or synthesized), if any. */
  voiceClip: string | null;
  status: MerchantStatus;
  createdAt: string;
  updatedAt: string;
}

export interface ApiKeyInfo {
  id: string;
  /** Last characters of the key, so an operator can tell keys apart without seeing them. */
  hint: string;
  createdAt: string;
  revokedAt: string | null;
}

/** A freshly issued key: the only moment its plaintext exists. */
export interface IssuedApiKey {
  keyId: string;
  apiKey: string;
}
