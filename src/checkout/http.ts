import type { Request, RequestHandler, Response } from 'express';
import { negotiate, parseLang, type Lang } from './i18n.js';
import { COOKIE_VALUE, newCsrfCookie, parseCookies, serializeCookie, type CookieNames } from './tokens.js';

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** On every checkout response: no framing, no sniffing, no referrer (the token is in the URL), no caching. */
export const securityHeaders: RequestHandler = (_req, res, next) => {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'no-store');
  next();
};

/** A single-valued string parameter (a repeated parameter counts as absent). */
export function param(source: unknown, name: string): string | undefined {
  const value = (source as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}

export function routeId(req: Request, name = 'id'): string {
  return param(req.params, name) ?? '';
}

const YEAR = 365 * 86_400;

/** `?lang=` (remembered in a cookie), else the remembered choice, else Accept-Language. */
export function pageLang(req: Request, res: Response, cookies: CookieNames): Lang {
  const chosen = parseLang(param(req.query, 'lang'));
  if (chosen) {
    res.append('Set-Cookie', serializeCookie(cookies.lang, chosen, { secure: cookies.secure, sameSite: 'Lax', maxAgeSeconds: YEAR }));
    return chosen;
  }
  return parseLang(parseCookies(req.headers.cookie).get(cookies.lang)) ?? negotiate(req.headers['accept-language']);
}

/** The request's CSRF cookie, if well-formed. */
export function csrfCookieOf(req: Request, cookies: CookieNames): string | undefined {
  const value = parseCookies(req.headers.cookie).get(cookies.csrf);
  return value && COOKIE_VALUE.test(value) ? value : undefined;
}

/** Keeps the browser's CSRF cookie, or sets a new one, for the forms on this page. */
export function ensureCsrfCookie(req: Request, res: Response, cookies: CookieNames): string {
  const existing = csrfCookieOf(req, cookies);
  if (existing) return existing;
  const value = newCsrfCookie();
  res.append('Set-Cookie', serializeCookie(cookies.csrf, value, { secure: cookies.secure, sameSite: 'Strict' }));
  return value;
}

export function sendHtml(res: Response, status: number, body: string): void {
  res.status(status).type('html').send(body);
}
