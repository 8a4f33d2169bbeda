import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { enrolPrepaid, startWorld, type TestWorld } from './daemon.js';
import type { WorldStore } from './pg-world.js';
import type { AuthorizationRequest, CallOutcome } from '../../src/payments/ports.js';


/**
 * The hosted checkout page over HTTP (fetch, with a small cookie jar standing in for a browser),
 * against a whole daemon whose scripted engine plays the call.
 */

export const PASSWORD = 'correct horse battery';
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/** enrolPrepaid's number in every form it could leak in; only "78" may ever be shown. */
export const PHONE_FORMS = ['+886912345678', '886912345678', '0912345678', '912345678', '912 345 678', '2345678'];

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
}

/** fetch with a cookie jar and no redirect following: what a browser would do, step by step. */
export class Client {
  readonly jar = new Map<string, string>();
  readonly seen: string[] = [];

  constructor(
    readonly base: string,
    readonly acceptLanguage = 'en-US,en;q=0.9',
  ) {}

  async request(method: string, path: string, form?: Record<string, string>, headers: Record<string, string> = {}): Promise<Reply> {
    const h: Record<string, string> = { 'accept-language': this.acceptLanguage, ...headers };
    if (this.jar.size > 0) h.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (form) {
      h['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(`${this.base}${path}`, { method, headers: h, redirect: 'manual', signal: AbortSignal.timeout(10_000), ...(body === undefined ? {} : { body }) });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const eq = pair.indexOf('=');
      this.jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const text = await res.text();
    this.seen.push(`${[...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${text}`);
    return { status: res.status, headers: res.headers, text, location: res.headers.get('location') };
  }

  get(path: string, headers?: Record<string, string>): Promise<Reply> {
    return this.request('GET', path, undefined, headers);
  }

  post(path: string, form: Record<string, string>, headers?: Record<string, string>): Promise<Reply> {
    return this.request('POST', path, form, headers);
  }
}

export const field = (page: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(page)?.[1] ?? '';
export const stepOf = (page: string) => /<main id="checkout" data-step="([a-z]+)"/.exec(page)?.[1];
export const resultOf = (page: string) => /data-testid="result" data-status="([a-z_]+)"/.exec(page)?.[1];
export const testid = (page: string, id: string) => new RegExp(`data-testid="${id}"[^>]*>([^<]*)<`).exec(page)?.[1];

export function expectSafePage(page: string): void {
  for (const m of page.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
    expect(m[1], 'scripts come from files').toMatch(/\ssrc="\/checkout\/assets\//);
    expect(m[2], 'no inline script content').toBe('');
  }
  expect(page, 'no style attribute').not.toMatch(/<[^>]*\sstyle=/);
  expect(page).not.toMatch(/<style/);
  expect(page, 'no event handler attribute').not.toMatch(/<[^>]*\son[a-z]+=/);
  expect(page).toMatch(/<meta name="viewport" content="width=device-width, initial-scale=1">/);
}

export function expectPageHeaders(r: Reply): void {
  expect(r.headers.get('content-security-policy')).toBe(CSP);
  expect(r.headers.get('x-frame-options')).toBe('DENY');
  expect(r.headers.get('referrer-policy')).toBe('no-referrer');
  expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  expect(r.headers.get('cache-control')).toBe('no-store');
}

/** The merchant's check exactly as the README shows it ("Verifying the return"), so the doc stays right. */
export function readmeVerifier(): (query: URLSearchParams, secret: string) => boolean {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('#### Verifying the return'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  expect(code).toContain("import { createHmac, timingSafeEqual } from 'node:crypto';");
  const fn = /function verifyCallpayReturn[\s\S]*?\n}\n/.exec(code)?.[0] ?? '';
  return new Function('createHmac', 'timingSafeEqual', `${fn}\nreturn verifyCallpayReturn;`)(createHmac, timingSafeEqual);
}

export interface Created {
  id: string;
  token: string;
  /** The checkout page's path and query, to request on this world's daemon. */
  path: string;
}

let seq = 0;
export async function createPayment(w: TestWorld, extra: Record<string, unknown> = {}, key?: string): Promise<Created> {
  const r = await w.api('POST', '/v1/payments', {
    idem: `checkout-${++seq}-${Math.random()}`,
    ...(key ? { key } : {}),
    body: { amount: 15000, currency: 'TWD', reference: 'ORD-1042', description: 'Oyster omelette', return_url: 'https://shop.example/done?order=42', ...extra },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const url = new URL(r.body.checkout_url as string);
  return { id: r.body.id as string, token: url.searchParams.get('token') ?? '', path: `${url.pathname}${url.search}` };
}

/** Opens the page (which sets the CSRF cookie) and submits the login form on it. */
export async function signIn(b: Client, p: Created, login: string): Promise<Reply> {
  const page = await b.get(p.path);
  return b.post(`/checkout/${p.id}/login`, { token: p.token, csrf: field(page.text, 'csrf'), login });
}

export async function enterPassword(b: Client, p: Created, password: string): Promise<Reply> {
  const page = await b.get(p.path);
  expect(stepOf(page.text)).toBe('password');
  return b.post(`/checkout/${p.id}/password`, { token: p.token, csrf: field(page.text, 'csrf'), password });
}

/**
 * A scripted call that reports progress, then waits for `release` before approving. `ringing`
 * resolves once that progress is reported (the call runs after the HTTP reply, later on PostgreSQL).
 */
export function heldCall(): { script: (req: AuthorizationRequest) => Promise<CallOutcome>; release(): void; ringing: Promise<void> } {
  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  let rang = () => {};
  const ringing = new Promise<void>((resolve) => (rang = resolve));
  return {
    release: () => release(),
    ringing,
    script: async (req) => {
      req.onProgress({ type: 'dialing', attempt: 1 });
      req.onProgress({ type: 'not_answered', attempt: 1, outcome: 'busy', retryInMs: 20_000 });
      req.onProgress({ type: 'dialing', attempt: 2 });
      req.onProgress({ type: 'ringing', attempt: 2 });
      rang();
      await gate;
      req.onProgress({ type: 'answered', attempt: 2 });
      req.onProgress({ type: 'pin', result: 'wrong' });
      req.onProgress({ type: 'pin', result: 'ok' });
      return { kind: 'approved' };
    },
  };
}

export interface SseEvent {
  event: string;
  data: any;
}

/** Reads a server-sent event stream in the background until it ends (or the test aborts it). */
export function readEvents(url: string): { events: SseEvent[]; comments: string[]; ended: Promise<number>; abort(): void; contentType: Promise<string | null> } {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const abort = new AbortController();
  let resolveType: (v: string | null) => void = () => {};
  const contentType = new Promise<string | null>((r) => (resolveType = r));
  const ended = (async () => {
    const res = await fetch(url, { signal: abort.signal });
    resolveType(res.headers.get('content-type'));
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return res.status;
      buffer += decoder.decode(value, { stream: true });
      for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const lines = block.split('\n');
        comments.push(...lines.filter((l) => l.startsWith(':')));
        const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
        const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
    }
  })();
  return { events, comments, ended, abort: () => abort.abort(), contentType };
}


export interface CheckoutWorld {
  w: TestWorld;
  shop: { id: string; apiKey: string; secret: string };
}

/** A daemon with a merchant and consumers in every state the checkout pages must handle. */
export async function checkoutWorld(env: Record<string, string> = {}, store: WorldStore = 'sqlite'): Promise<CheckoutWorld> {
  const w = await startWorld({ CALLPAY_RATE_LIMIT_BURST: '1000', ...env }, { store });
  const m = JSON.parse((await w.cli(['merchant', 'add', '--name', 'Shilin Night Market', '--json'])).stdout) as { id: string; api_key: string; webhook_secret: string };
  const shop = { id: m.id, apiKey: m.api_key, secret: m.webhook_secret };
  await enrolPrepaid(w, 'alice', '1000');
  for (const login of ['bob', 'carol', 'dora']) {
    await enrolPrepaid(w, login, '1000');
    expect((await w.cli(['consumer', 'set-password', login, '--password-stdin'], `${PASSWORD}\n`)).code).toBe(0);
  }
  expect((await w.cli(['consumer', 'policy', 'carol', '--password-above', '500'])).code).toBe(0);
  await enrolPrepaid(w, 'locked.larry', '1000');
  expect((await w.cli(['consumer', 'lock', 'locked.larry'])).code).toBe(0);
  // Enrolled, but with no billable account.
  await w.cli(['consumer', 'add', '--login', 'no.account', '--phone', '+886912345678', '--national-id', 'A123456789', '--address', 'No. 7, Section 1', '--pin-stdin'], '482916\n');
  return { w, shop };
}
