import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Keyring } from '../crypto/keyring.js';

/** Only the MAC is needed: tests and the QR CLI can pass a fake. */
export type Mac = Pick<Keyring, 'mac' | 'macs'>;

/** The per-payment token in checkout URLs: unguessable, stateless, valid for that payment only. */
export function checkoutToken(keyring: Mac, paymentId: string): string {
  return keyring.mac('checkout', paymentId).toString('base64url');
}

export function checkoutPath(keyring: Mac, paymentId: string): string {
  return `/checkout/${encodeURIComponent(paymentId)}?token=${checkoutToken(keyring, paymentId)}`;
}

/** Constant-time comparison of two strings (the length of a MAC is public). */
export function sameText(given: string | undefined, expected: string): boolean {
  const a = Buffer.from(given ?? '', 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Any configured key's MAC passes: a link handed out before a key rotation keeps working while that key is held. */
export function validMac(keyring: Mac, purpose: string, value: string, given: string | undefined): boolean {
  let ok = false;
  for (const mac of keyring.macs(purpose, value)) ok = sameText(given, mac.toString('base64url')) || ok;
  return ok;
}

export function validCheckoutToken(keyring: Mac, paymentId: string, given: string | undefined): boolean {
  return validMac(keyring, 'checkout', paymentId, given);
}

/**
 * Double-submit CSRF without a server session: a random HttpOnly cookie, and a form field that is
 * a MAC of the cookie bound to what the form acts on (`pay_…` or `merchant:mer_…`). A cross-site
 * page can neither read the cookie nor compute the MAC.
 */
export function csrfField(keyring: Mac, scope: string, cookie: string): string {
  return keyring.mac('csrf', `${scope}.${cookie}`).toString('base64url');
}

export function validCsrf(keyring: Mac, scope: string, cookie: string | undefined, field: string | undefined): boolean {
  if (!cookie || !COOKIE_VALUE.test(cookie) || !field) return false;
  return validMac(keyring, 'csrf', `${scope}.${cookie}`, field);
}

export const COOKIE_VALUE = /^[A-Za-z0-9_-]{43}$/;

export function newCsrfCookie(): string {
  return randomBytes(32).toString('base64url');
}

export interface CookieNames {
  csrf: string;
  lang: string;
  secure: boolean;
}

/** With https the `__Host-` prefix pins the cookie to this origin (Secure, Path=/, no Domain). */
export function cookieNames(publicUrl: string): CookieNames {
  const secure = publicUrl.startsWith('https:');
  return { csrf: secure ? '__Host-callpay_csrf' : 'callpay_csrf', lang: secure ? '__Host-callpay_lang' : 'callpay_lang', secure };
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';').slice(0, 50)) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? '' : part.slice(0, eq).trim();
    if (name && !cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}

export function serializeCookie(name: string, value: string, opts: { secure: boolean; sameSite: 'Strict' | 'Lax'; maxAgeSeconds?: number }): string {
  return [
    `${name}=${value}`,
    'Path=/',
    'HttpOnly',
    `SameSite=${opts.sameSite}`,
    ...(opts.secure ? ['Secure'] : []),
    ...(opts.maxAgeSeconds === undefined ? [] : [`Max-Age=${opts.maxAgeSeconds}`]),
  ].join('; ');
}
