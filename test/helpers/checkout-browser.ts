import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page, Request } from 'playwright-core';
import { expect } from 'vitest';
import { enrolPrepaid, type TestWorld } from './daemon.js';
import type { AuthorizationRequest, CallOutcome } from '../../src/payments/ports.js';

/** What the browser checkout tests share: the consumer, the merchant's site, the page's steps. */
export const PIN = '482916';
export const PASSWORD = 'correct horse battery';
/** enrolPrepaid's phone number: the page may show its last two digits, never more. */
const PHONE_DIGITS = ['+886912345678', '886912345678', '0912345678', '912345678', '2345678'];

export interface MerchantSite {
  url: string;
  /** Every page request it received (favicon excluded). */
  visits: URL[];
  close(): Promise<void>;
}

/** A tiny merchant website on loopback: the payment's return_url. */
export async function startMerchantSite(): Promise<MerchantSite> {
  const visits: URL[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    visits.push(url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><html lang="en"><title>Shop</title><h1>Thank you for your order</h1></html>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    visits,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A consumer with a prepaid account (1000 TWD), a PIN and, unless `password` is null, a password. */
export async function enrolConsumer(w: TestWorld, login: string, opts: { password?: string | null; locale?: string } = {}): Promise<void> {
  await enrolPrepaid(w, login, '1000', opts.locale ? ['--locale', opts.locale] : []);
  const password = opts.password === undefined ? PASSWORD : opts.password;
  if (password !== null) {
    const r = await w.cli(['consumer', 'set-password', login, '--password-stdin'], `${password}\n`);
    expect(r.code, r.stderr).toBe(0);
  }
}

export interface Created {
  id: string;
  checkoutUrl: string;
}

/** A payment without a login account: the consumer signs in on the page. */
export async function createPayment(w: TestWorld, opts: { returnUrl: string; amount?: number; key?: string }): Promise<Created> {
  const r = await w.api('POST', '/v1/payments', {
    key: opts.key ?? w.apiKey,
    idem: `browser-${Math.random()}`,
    body: { amount: opts.amount ?? 15000, currency: 'TWD', reference: 'ORD-1042', description: 'Oyster omelette', return_url: opts.returnUrl },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  expect(r.body.status).toBe('requires_consumer');
  const url = new URL(r.body.checkout_url as string);
  expect(url.pathname).toBe(`/checkout/${r.body.id}`);
  expect(url.searchParams.get('token')).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  // checkout_url is built on http.publicUrl; this world's daemon listens on a port of its own.
  return { id: r.body.id as string, checkoutUrl: `${w.daemon.url}${url.pathname}${url.search}` };
}

export const step = (page: Page) => page.locator('#checkout').getAttribute('data-step');
export const waitStep = (page: Page, ...steps: string[]) => page.waitForSelector(steps.map((s) => `#checkout[data-step="${s}"]`).join(', '), { state: 'attached' });

export async function signIn(page: Page, login: string): Promise<void> {
  await page.locator('[data-testid=login-form] #login').fill(login);
  await page.locator('[data-testid=login-form] button[type=submit]').click();
}

export async function enterPassword(page: Page, password: string): Promise<void> {
  await page.locator('[data-testid=password-form] #password').fill(password);
  await page.locator('[data-testid=password-form] button[type=submit]').click();
}

/** Scripted call: progress as a real one reports it (dialing, ringing, answered, PIN), then the outcome. */
export function callThat(outcome: CallOutcome, stepMs = 250): (req: AuthorizationRequest) => Promise<CallOutcome> {
  const pause = () => new Promise((r) => setTimeout(r, stepMs));
  return async (req) => {
    req.onProgress({ type: 'dialing', attempt: 1 });
    await pause();
    req.onProgress({ type: 'ringing', attempt: 1 });
    await pause();
    req.onProgress({ type: 'answered', attempt: 1 });
    await pause();
    if (outcome.kind === 'approved') req.onProgress({ type: 'pin', result: 'ok' });
    await pause();
    return outcome;
  };
}

/** Every request the page sent to callpay, with its body (forms). */
export function recordRequests(page: Page, daemonUrl: string): Request[] {
  const seen: Request[] = [];
  page.on('request', (r) => {
    if (r.url().startsWith(daemonUrl)) seen.push(r);
  });
  return seen;
}

/** Everything the page itself shows or holds: its HTML, including hidden inputs and attributes. */
export const pageText = async (page: Page) => `${await page.content()}\n${await page.locator('body').innerText()}`;

export function expectNoPhoneNumber(text: string, where: string): void {
  for (const digits of PHONE_DIGITS) expect(text, `${where} reveals the phone number`).not.toContain(digits);
}

export function verifyReturnSignature(query: URLSearchParams, secret: string): boolean {
  const [t, id, status, sig] = ['t', 'payment_id', 'status', 'signature'].map((k) => query.get(k) ?? '');
  if (!/^[0-9a-f]{64}$/.test(sig!)) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${id}.${status}`).digest();
  return timingSafeEqual(Buffer.from(sig!, 'hex'), expected);
}
