import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, startWorld, type TestWorld } from './helpers/daemon.js';
import { checkoutToken } from '../src/checkout/tokens.js';
import type { AuthorizationRequest, CallOutcome } from '../src/payments/ports.js';

/**
 * The hosted checkout page over HTTP (fetch, with a small cookie jar standing in for a browser),
 * against a whole daemon whose scripted engine plays the call.
 */

const PASSWORD = 'correct horse battery';
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/** enrolPrepaid's number in every form it could leak in; only "78" may ever be shown. */
const PHONE_FORMS = ['+886912345678', '886912345678', '0912345678', '912345678', '912 345 678', '2345678'];

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
}

/** fetch with a cookie jar and no redirect following: what a browser would do, step by step. */
class Client {
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

const field = (page: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(page)?.[1] ?? '';
const stepOf = (page: string) => /<main id="checkout" data-step="([a-z]+)"/.exec(page)?.[1];
const resultOf = (page: string) => /data-testid="result" data-status="([a-z_]+)"/.exec(page)?.[1];
const testid = (page: string, id: string) => new RegExp(`data-testid="${id}"[^>]*>([^<]*)<`).exec(page)?.[1];

function expectSafePage(page: string): void {
  for (const m of page.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
    expect(m[1], 'scripts come from files').toMatch(/\ssrc="\/checkout\/assets\//);
    expect(m[2], 'no inline script content').toBe('');
  }
  expect(page, 'no style attribute').not.toMatch(/<[^>]*\sstyle=/);
  expect(page).not.toMatch(/<style/);
  expect(page, 'no event handler attribute').not.toMatch(/<[^>]*\son[a-z]+=/);
  expect(page).toMatch(/<meta name="viewport" content="width=device-width, initial-scale=1">/);
}

function expectPageHeaders(r: Reply): void {
  expect(r.headers.get('content-security-policy')).toBe(CSP);
  expect(r.headers.get('x-frame-options')).toBe('DENY');
  expect(r.headers.get('referrer-policy')).toBe('no-referrer');
  expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  expect(r.headers.get('cache-control')).toBe('no-store');
}

/** The merchant's check exactly as the README shows it ("Verifying the return"), so the doc stays right. */
function readmeVerifier(): (query: URLSearchParams, secret: string) => boolean {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('#### Verifying the return'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  expect(code).toContain("import { createHmac, timingSafeEqual } from 'node:crypto';");
  const fn = /function verifyCallpayReturn[\s\S]*?\n}\n/.exec(code)?.[0] ?? '';
  return new Function('createHmac', 'timingSafeEqual', `${fn}\nreturn verifyCallpayReturn;`)(createHmac, timingSafeEqual);
}

interface Created {
  id: string;
  token: string;
  /** The checkout page's path and query, to request on this world's daemon. */
  path: string;
}

let seq = 0;
async function createPayment(w: TestWorld, extra: Record<string, unknown> = {}, key?: string): Promise<Created> {
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
async function signIn(b: Client, p: Created, login: string): Promise<Reply> {
  const page = await b.get(p.path);
  return b.post(`/checkout/${p.id}/login`, { token: p.token, csrf: field(page.text, 'csrf'), login });
}

async function enterPassword(b: Client, p: Created, password: string): Promise<Reply> {
  const page = await b.get(p.path);
  expect(stepOf(page.text)).toBe('password');
  return b.post(`/checkout/${p.id}/password`, { token: p.token, csrf: field(page.text, 'csrf'), password });
}

/** A scripted call that reports progress, then waits for `release` before approving. */
function heldCall(): { script: (req: AuthorizationRequest) => Promise<CallOutcome>; release(): void } {
  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    release: () => release(),
    script: async (req) => {
      req.onProgress({ type: 'dialing', attempt: 1 });
      req.onProgress({ type: 'not_answered', attempt: 1, outcome: 'busy', retryInMs: 20_000 });
      req.onProgress({ type: 'dialing', attempt: 2 });
      req.onProgress({ type: 'ringing', attempt: 2 });
      await gate;
      req.onProgress({ type: 'answered', attempt: 2 });
      req.onProgress({ type: 'pin', result: 'wrong' });
      req.onProgress({ type: 'pin', result: 'ok' });
      return { kind: 'approved' };
    },
  };
}

interface SseEvent {
  event: string;
  data: any;
}

/** Reads a server-sent event stream in the background until it ends (or the test aborts it). */
function readEvents(url: string): { events: SseEvent[]; comments: string[]; ended: Promise<number>; abort(): void; contentType: Promise<string | null> } {
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

describe('checkout pages', () => {
  let w: TestWorld;
  let b: Client;
  let shop: { id: string; apiKey: string; secret: string };
  const status = (id: string) => w.daemon.payments.get(id).status;

  beforeAll(async () => {
    w = await startWorld({ CALLPAY_RATE_LIMIT_BURST: '1000' });
    const m = JSON.parse((await w.cli(['merchant', 'add', '--name', 'Shilin Night Market', '--json'])).stdout) as { id: string; api_key: string; webhook_secret: string };
    shop = { id: m.id, apiKey: m.api_key, secret: m.webhook_secret };
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
  });
  afterAll(async () => w.close());

  const client = (acceptLanguage?: string) => (b = new Client(w.daemon.url, acceptLanguage));

  it('shows the login step: merchant, amount, reference, time left; safe headers; no inline script or style', async () => {
    const p = await createPayment(w, {}, shop.apiKey);
    const r = await client().get(p.path);
    expect(r.status).toBe(200);
    expectPageHeaders(r);
    expect(r.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/);
    expectSafePage(r.text);
    expect(r.text).toMatch(/<html lang="en-US">/);
    expect(stepOf(r.text)).toBe('login');
    expect(testid(r.text, 'merchant')).toBe('Shilin Night Market');
    expect(testid(r.text, 'amount')).toBe('NT$150.00');
    expect(testid(r.text, 'reference')).toBe('ORD-1042');
    expect(testid(r.text, 'expires')).toBe('10:00');
    expect(r.text).toMatch(/<form data-testid="login-form" method="post" action="\/checkout\/pay_\w+\/login">/);
    expect(r.text).toMatch(/<label for="login">Login account<\/label>/);
    expect(r.text).toMatch(/<input id="login" name="login" autocomplete="username"[^>]* autofocus/);
    expect(r.text).toMatch(/<button type="submit">Continue<\/button>/);
    expect(r.text).toContain(`data-testid="lang-zh-TW" href="/checkout/${p.id}?token=${p.token}&amp;lang=zh-TW"`);
    expect(r.text).not.toContain('data-testid="error"');
    const cookie = r.headers.getSetCookie().find((c) => c.startsWith('callpay_csrf='));
    expect(cookie).toMatch(/^callpay_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(field(r.text, 'token')).toBe(p.token);
    expect(field(r.text, 'csrf')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('serves its script and style as files, cacheable; the page links them by content hash', async () => {
    const page = await client().get((await createPayment(w)).path);
    const js = /<script src="(\/checkout\/assets\/checkout\.js\?v=[0-9a-f]{12})" defer><\/script>/.exec(page.text)?.[1];
    const css = /<link rel="stylesheet" href="(\/checkout\/assets\/checkout\.css\?v=[0-9a-f]{12})">/.exec(page.text)?.[1];
    expect(js && css).toBeTruthy();
    for (const [path, type] of [[js!, 'text/javascript'], [css!, 'text/css']] as const) {
      const r = await b.get(path);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toContain(type);
      expect(r.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(r.text.length).toBeGreaterThan(500);
    }
    expect((await b.get('/checkout/assets/../../package.json')).status).toBe(404);
    expect((await b.get('/checkout/assets/nothing.js')).status).toBe(404);
  });

  it('answers a missing or wrong token and an unknown payment with the same 404 page', async () => {
    const p = await createPayment(w);
    const other = await createPayment(w);
    const flipped = `${p.token.slice(0, -1)}${p.token.endsWith('A') ? 'B' : 'A'}`;
    const unknown = 'pay_01JZZZZZZZZZZZZZZZZZZZZZZZ';
    const paths = [
      `/checkout/${p.id}`,
      `/checkout/${p.id}?token=`,
      `/checkout/${p.id}?token=${flipped}`,
      `/checkout/${p.id}?token=${other.token}`,
      `/checkout/${p.id}?token=${p.token}&token=${p.token}`,
      `/checkout/${unknown}?token=${checkoutToken(w.ctx.keyring, unknown)}`,
      `/checkout/${unknown}?token=${p.token}`,
      `/checkout/${p.id}/status?token=${flipped}`,
      `/checkout/${p.id}/events?token=${flipped}`,
      `/checkout/${p.id}/return?token=${flipped}`,
      `/checkout/${p.id}/nothing-here?token=${p.token}`,
    ];
    const replies = [];
    for (const path of paths) replies.push(await new Client(w.daemon.url).get(path));
    const first = replies[0]!;
    expect(first.status).toBe(404);
    expectPageHeaders(first);
    expectSafePage(first.text);
    expect(first.text).toContain('This payment link is not valid');
    expect(first.text).not.toContain(p.id);
    for (const [i, r] of replies.entries()) {
      expect([r.status, r.text], paths[i]).toEqual([404, first.text]);
      expect(r.headers.getSetCookie(), 'no cookie for a stranger').toEqual([]);
    }
    // Forms too: the token decides before anything else.
    const posted = await new Client(w.daemon.url).post(`/checkout/${p.id}/login`, { token: flipped, csrf: 'x', login: 'alice' });
    expect([posted.status, posted.text]).toEqual([404, first.text]);
    expect(status(p.id)).toBe('requires_consumer');
  });

  it('refuses forms without the CSRF pair (403, nothing processed)', async () => {
    const p = await createPayment(w);
    const other = await createPayment(w);
    const page = await client().get(p.path);
    const csrf = field(page.text, 'csrf');
    const otherCsrf = field((await b.get(other.path)).text, 'csrf');
    const stranger = new Client(w.daemon.url);
    const attempts: Array<[Client, Record<string, string>]> = [
      [b, { token: p.token, login: 'alice' }],
      [b, { token: p.token, csrf: '', login: 'alice' }],
      [b, { token: p.token, csrf: `${csrf.slice(0, -1)}x`, login: 'alice' }],
      [b, { token: p.token, csrf: otherCsrf, login: 'alice' }],
      [stranger, { token: p.token, csrf, login: 'alice' }],
    ];
    for (const [who, form] of attempts) {
      const r = await who.post(`/checkout/${p.id}/login`, form);
      expect(r.status, JSON.stringify(form)).toBe(403);
      expectPageHeaders(r);
      expect(r.text).toContain('Reload the page');
      expect(r.text).toContain(`href="/checkout/${p.id}?token=${p.token}"`);
    }
    // Another cookie with this page's field: the pair no longer matches.
    const swapped = new Client(w.daemon.url);
    await swapped.get(p.path);
    expect((await swapped.post(`/checkout/${p.id}/login`, { token: p.token, csrf, login: 'alice' })).status).toBe(403);
    expect((await b.post(`/checkout/${p.id}/password`, { token: p.token, password: PASSWORD })).status).toBe(403);
    // JSON instead of a form: no fields at all.
    const json = await b.request('POST', `/checkout/${p.id}/login`, undefined, { 'content-type': 'application/json' });
    expect(json.status).toBe(404);
    expect(status(p.id)).toBe('requires_consumer');
    expect(w.engine.requests).toHaveLength(0);
    // The same session still works with the right pair.
    w.engine.script.push({ kind: 'approved' });
    expect((await b.post(`/checkout/${p.id}/login`, { token: p.token, csrf, login: 'alice' })).status).toBe(303);
    await eventually(() => expect(status(p.id)).toBe('succeeded'));
  });

  it('answers oversized or overfull forms with an error page, unprocessed', async () => {
    const p = await createPayment(w);
    const page = await client().get(p.path);
    const form = { token: p.token, csrf: field(page.text, 'csrf'), login: 'alice' };
    const big = await b.post(`/checkout/${p.id}/login`, { ...form, padding: 'x'.repeat(10_000) });
    const many = await b.post(`/checkout/${p.id}/login`, { ...form, ...Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}`, '1'])) });
    for (const r of [big, many]) {
      expect(r.status).toBe(413);
      expectPageHeaders(r);
      expect(r.headers.get('content-type')).toMatch(/^text\/html/);
      expect(r.text).toContain('Something went wrong');
    }
    expect(status(p.id)).toBe('requires_consumer');
  });

  it('signs in, follows the call live (SSE and /status), shows the result and returns to the merchant with a valid signature', async () => {
    const call = heldCall();
    w.engine.script.push(call.script);
    const calls = w.engine.requests.length;
    const p = await createPayment(w, {}, shop.apiKey);
    const r = await signIn(client(), p, '  Alice ');
    expect(r.status).toBe(303);
    expect(r.location).toBe(`/checkout/${p.id}?token=${p.token}`);
    await eventually(() => expect(w.engine.requests).toHaveLength(calls + 1));

    const page = await b.get(r.location!);
    expect(stepOf(page.text)).toBe('calling');
    expectSafePage(page.text);
    expect(page.text).toMatch(/<p class="status" data-testid="status" aria-live="polite"><span class="lead">We are calling your phone ending in …78\. Answer and key your PIN\.<\/span>/);
    expect(page.text).toContain('Your phone is ringing.');
    expect(page.text).not.toContain('<form');

    const polled = await b.get(`/checkout/${p.id}/status?token=${p.token}`);
    expect(polled.headers.get('cache-control')).toBe('no-store');
    expect(polled.headers.get('content-type')).toMatch(/^application\/json/);
    const json = JSON.parse(polled.text);
    expect(json).toMatchObject({ status: 'calling', step: 'calling', failure_code: null, phone_ending: '78', expires_in: 600 });
    expect(json.progress.map((e: { type: string }) => e.type)).toEqual(['dialing', 'not_answered', 'dialing', 'ringing']);
    expect(json.progress[1]).toMatchObject({ outcome: 'busy', retryInMs: 20_000 });

    const stream = readEvents(`${w.daemon.url}/checkout/${p.id}/events?token=${p.token}`);
    expect(await stream.contentType).toBe('text/event-stream; charset=utf-8');
    await eventually(() => expect(stream.events.filter((e) => e.event === 'progress')).toHaveLength(4));
    expect(stream.events[0]).toEqual({ event: 'status', data: { status: 'calling', step: 'calling', failure_code: null, phone_ending: '78', expires_in: 600 } });
    call.release();
    expect(await stream.ended, 'the stream ends at the final status').toBe(200);
    expect(stream.events.slice(5).map((e) => (e.event === 'progress' ? `${e.data.type}:${e.data.result ?? ''}` : `status:${e.data.status}`)))
      .toEqual(['answered:', 'pin:wrong', 'pin:ok', 'status:succeeded']);
    expect(stream.events.at(-1)?.data).toMatchObject({ step: 'result', phone_ending: null, expires_in: 0 });

    const done = await b.get(p.path);
    expect(stepOf(done.text)).toBe('result');
    expect(resultOf(done.text)).toBe('succeeded');
    expect(done.text).not.toContain('<form');
    expectSafePage(done.text);
    expect(done.text).toContain(`<a class="button" data-testid="return" href="/checkout/${p.id}/return?token=${p.token}" autofocus>Return to Shilin Night Market</a>`);

    const back = await b.get(`/checkout/${p.id}/return?token=${p.token}`);
    expect(back.status).toBe(303);
    const to = new URL(back.location!);
    expect(`${to.origin}${to.pathname}`).toBe('https://shop.example/done');
    expect(to.searchParams.get('order'), 'the merchant\'s own parameter stays').toBe('42');
    expect(to.searchParams.get('payment_id')).toBe(p.id);
    expect(to.searchParams.get('status')).toBe('succeeded');
    expect(Math.abs(Number(to.searchParams.get('t')) - Date.now() / 1000)).toBeLessThan(120);
    const verifyReturn = readmeVerifier();
    expect(verifyReturn(to.searchParams, shop.secret)).toBe(true);
    expect(verifyReturn(to.searchParams, w.ctx.webhookSecrets.active(w.merchantId)[0]!), 'another merchant\'s secret').toBe(false);
    const forged = new URLSearchParams(to.searchParams);
    forged.set('status', 'declined');
    expect(verifyReturn(forged, shop.secret)).toBe(false);
    const stale = new URLSearchParams(to.searchParams);
    stale.set('t', String(Number(stale.get('t')) - 3600));
    stale.set('signature', createHmac('sha256', shop.secret).update(`${stale.get('t')}.${p.id}.succeeded`).digest('hex'));
    expect(verifyReturn(stale, shop.secret), 'an hour old').toBe(false);

    // Nothing the consumer's browser received ever held the phone number.
    const events = JSON.stringify(stream.events);
    for (const text of [...b.seen, events]) for (const phone of PHONE_FORMS) expect(text).not.toContain(phone);
  });

  it('shows the password step when policy needs it; a wrong one stays there with an error, the right one calls', async () => {
    w.engine.script.push({ kind: 'approved' });
    const p = await createPayment(w);
    expect((await signIn(client(), p, 'bob')).status).toBe(303);
    const page = await b.get(p.path);
    expect(stepOf(page.text)).toBe('password');
    expectSafePage(page.text);
    expect(page.text).toMatch(/<form data-testid="password-form" method="post" action="\/checkout\/pay_\w+\/password">/);
    expect(page.text).toMatch(/<label for="password">Password<\/label>/);
    expect(page.text).toMatch(/<input id="password" type="password" name="password" autocomplete="current-password"/);

    const calls = w.engine.requests.length;
    const wrong = await enterPassword(b, p, 'not the password');
    expect(wrong.status).toBe(303);
    const again = await b.get(wrong.location!);
    expect(stepOf(again.text)).toBe('password');
    expect(again.text).toContain('<p class="error" role="alert" data-testid="error" id="error">We could not verify this password.</p>');
    expect(again.text).toContain('aria-invalid="true"');
    expect(again.text).not.toContain('not the password');
    expect(w.engine.requests).toHaveLength(calls);

    expect((await enterPassword(b, p, PASSWORD)).status).toBe(303);
    await eventually(() => expect(status(p.id)).toBe('succeeded'));
    expect(w.engine.requests).toHaveLength(calls + 1);
  });

  it('limits wrong passwords per login account: 429 after five, the web step only, and only for a while', async () => {
    const p = await createPayment(w);
    expect((await signIn(client(), p, 'dora')).status).toBe(303);
    for (let i = 0; i < 5; i++) {
      const r = await enterPassword(b, p, `wrong guess ${i}`);
      expect(r.location, `attempt ${i + 1}`).toContain('error=password');
    }
    // From another address-less client too: the limit is the login account's, not the cookie's.
    const elsewhere = new Client(w.daemon.url);
    const page = await elsewhere.get(p.path);
    const blocked = await elsewhere.post(`/checkout/${p.id}/password`, { token: p.token, csrf: field(page.text, 'csrf'), password: PASSWORD });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('900');
    expectPageHeaders(blocked);
    expect(blocked.text).toContain('Too many attempts, try again later.');
    expect(status(p.id)).toBe('requires_password');

    // The consumer is not locked and no PIN failure was counted: the phone side is untouched.
    expect(w.ctx.consumers.findByLogin('dora')?.status).toBe('active');
    expect(w.ctx.db.prepare('SELECT count(*) FROM pin_failures').pluck().get()).toBe(0);
    w.engine.script.push({ kind: 'approved' });
    const byMerchant = await w.api('POST', '/v1/payments', { idem: `dora-${Math.random()}`, body: { amount: 15000, currency: 'TWD', reference: 'r', description: 'd', return_url: 'https://shop.example/', login_account: 'dora' } });
    expect(byMerchant.body.status, 'the merchant passed the login: the password is still asked for').toBe('requires_password');

    // The window slides: fifteen minutes later the web step is open again.
    w.clock.advance(15 * 60_000 + 1_000);
    const later = await createPayment(w);
    expect((await signIn(client(), later, 'dora')).status).toBe(303);
    expect((await enterPassword(b, later, PASSWORD)).status).toBe(303);
    await eventually(() => expect(status(later.id)).toBe('succeeded'));
  });

  it('skips the password below the consumer\'s threshold', async () => {
    w.engine.script.push({ kind: 'approved' });
    const p = await createPayment(w, { amount: 15000 });
    const r = await signIn(client(), p, 'carol');
    expect(r.status).toBe(303);
    const page = await b.get(r.location!);
    expect(['calling', 'result']).toContain(stepOf(page.text));
    expect(page.text).not.toContain('password-form');
    await eventually(() => expect(status(p.id)).toBe('succeeded'));
    expect(w.daemon.payments.transitions(p.id).map((t) => t.toStatus)).not.toContain('requires_password');
    // Above it, the password is asked for.
    const big = await createPayment(w, { amount: 60000 });
    await signIn(client(), big, 'carol');
    expect(stepOf((await b.get(big.path)).text)).toBe('password');
  });

  it('gives one generic answer for an unknown, malformed, locked or account-less login, and changes nothing', async () => {
    const calls = w.engine.requests.length;
    const seen: string[] = [];
    for (const login of ['nobody.here', 'locked.larry', 'no.account', 'x', '<script>']) {
      const p = await createPayment(w);
      const r = await signIn(client(), p, login);
      expect(r.status, login).toBe(303);
      expect(r.location).toBe(`/checkout/${p.id}?token=${p.token}&error=login`);
      const page = await b.get(r.location!);
      expect(stepOf(page.text)).toBe('login');
      expect(testid(page.text, 'error')).toBe('We could not start payment authorization for this login account.');
      expect(status(p.id)).toBe('requires_consumer');
      // Everything but the payment's own id, token and CSRF field is the same.
      seen.push(page.text.replaceAll(p.id, 'ID').replaceAll(p.token, 'TOKEN').replace(/name="csrf" value="[^"]*"/, ''));
    }
    expect(new Set(seen).size).toBe(1);
    expect(w.engine.requests).toHaveLength(calls);
    expect(w.ctx.consumers.findByLogin('locked.larry')?.status).toBe('locked');
  });

  it('refuses the login step when the merchant already passed the login account, showing the current step', async () => {
    const p = await createPayment(w, { login_account: 'bob' });
    expect(status(p.id)).toBe('requires_password');
    const r = await signIn(client(), p, 'alice');
    expect(r.status).toBe(409);
    expect(stepOf(r.text)).toBe('password');
    expect(testid(r.text, 'error')).toBe('This step is already done. Here is where the payment stands now.');
    expect(w.daemon.payments.get(p.id).consumerId).toBe(w.ctx.consumers.findByLogin('bob')?.id);
  });

  it('shows every final status as a result with the way back, never a form', async () => {
    const canceled = await createPayment(w);
    expect((await w.api('POST', `/v1/payments/${canceled.id}/cancel`, { body: {} })).body.status).toBe('canceled');
    const declined = await createPayment(w, { amount: 200000 }); // above alice's balance
    expect((await signIn(client(), declined, 'alice')).status).toBe(303);
    w.engine.script.push({ kind: 'wrong_pin' });
    const failedPin = await createPayment(w);
    await signIn(client(), failedPin, 'alice');
    w.engine.script.push({ kind: 'approved' });
    const refunded = await createPayment(w);
    await signIn(client(), refunded, 'alice');
    await eventually(() => expect(status(refunded.id)).toBe('succeeded'));
    expect((await w.api('POST', `/v1/payments/${refunded.id}/refunds`, { body: {}, idem: `re-${Math.random()}` })).status).toBe(201);
    await eventually(() => expect(status(failedPin.id)).toBe('declined'));

    const cases: Array<[Created, string, string]> = [
      [canceled, 'canceled', 'Night Market Stall 12 canceled this payment. Nothing was charged.'],
      [declined, 'declined', 'Your prepaid balance does not cover this amount.'],
      [failedPin, 'declined', 'The PIN was not accepted.'],
      [refunded, 'refunded', 'refunded this payment'],
    ];
    for (const [p, want, says] of cases) {
      const page = await client().get(p.path);
      expect(stepOf(page.text), want).toBe('result');
      expect(resultOf(page.text)).toBe(want);
      expect(page.text).toContain(says);
      expect(page.text).not.toContain('<form');
      expect(page.text).not.toContain('data-testid="expires"');
      expectSafePage(page.text);
      const back = await b.get(`/checkout/${p.id}/return?token=${p.token}`);
      expect(back.status).toBe(303);
      expect(new URL(back.location!).searchParams.get('status')).toBe(want);
    }
    // An open payment has no return yet: back to its page.
    const open = await createPayment(w);
    const early = await client().get(`/checkout/${open.id}/return?token=${open.token}`);
    expect([early.status, early.location]).toEqual([303, open.path]);
  });

  it('speaks zh-TW from Accept-Language or ?lang= (remembered), en-US otherwise', async () => {
    const p = await createPayment(w);
    const zh = await client('zh-TW,zh;q=0.9,en;q=0.8').get(p.path);
    expect(zh.text).toMatch(/<html lang="zh-TW">/);
    expect(testid(zh.text, 'amount')).toBe('新臺幣 150.00 元');
    expect(zh.text).toContain('<label for="login">登入帳號</label>');
    expect(zh.text).toContain('<button type="submit">繼續</button>');
    expect(zh.text).toContain('<h1>登入以付款</h1>');
    expectSafePage(zh.text);

    for (const [header, lang] of [['zh-Hant', 'zh-TW'], ['zh', 'zh-TW'], ['zh-HK;q=0.8, fr', 'zh-TW'], ['fr, zh-TW;q=0.5', 'zh-TW'], ['zh-CN', 'en-US'], ['fr-FR, de', 'en-US'], ['', 'en-US'], ['en-GB, zh-TW;q=0.1', 'en-US']] as const) {
      const r = await new Client(w.daemon.url, header).get(p.path);
      expect(r.text, header).toContain(`<html lang="${lang}">`);
    }

    const chosen = await client('en-US').get(`${p.path}&lang=zh-TW`);
    expect(chosen.text).toMatch(/<html lang="zh-TW">/);
    expect(chosen.headers.getSetCookie().find((c) => c.startsWith('callpay_lang='))).toMatch(/^callpay_lang=zh-TW; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/);
    expect((await b.get(p.path)).text, 'the choice is remembered').toMatch(/<html lang="zh-TW">/);
    expect((await b.get(`${p.path}&lang=en-US`)).text).toMatch(/<html lang="en-US">/);
    expect((await b.get(p.path)).text).toMatch(/<html lang="en-US">/);
    expect((await b.get(`${p.path}&lang=xx`)).text, 'an unknown choice is ignored').toMatch(/<html lang="en-US">/);
  });

  it('escapes a hostile merchant name everywhere it is shown', async () => {
    const evil = JSON.parse((await w.cli(['merchant', 'add', '--name', '<script>alert(1)</script> & "Co" \'x\'', '--json'])).stdout) as { api_key: string };
    const p = await createPayment(w, { reference: '<img src=x onerror=alert(2)>', description: '</p><b>bold</b>' }, evil.api_key);
    const page = await client().get(p.path);
    expect(page.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot; &#39;x&#39;');
    expect(page.text).toContain('&lt;img src=x onerror=alert(2)&gt;');
    expect(page.text).toContain('&lt;/p&gt;&lt;b&gt;bold&lt;/b&gt;');
    expect(page.text).not.toContain('<script>alert');
    expect(page.text).not.toContain('<b>bold');
    expectSafePage(page.text);
    await w.api('POST', `/v1/payments/${p.id}/cancel`, { body: {}, key: evil.api_key });
    const result = await b.get(p.path);
    expect(result.text).toContain('Return to &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(result.text).not.toContain('<script>alert');
  });
});

describe('checkout: expiry', () => {
  let w: TestWorld;
  beforeAll(async () => {
    w = await startWorld();
    await enrolPrepaid(w, 'alice', '1000');
  });
  afterAll(async () => w.close());

  it('shows a payment whose time is up as expired (even before the sweeper), with no form, and refuses its forms', async () => {
    const p = await createPayment(w);
    const b = new Client(w.daemon.url);
    const open = await b.get(p.path);
    const csrf = field(open.text, 'csrf');
    w.clock.advance(601_000);
    const page = await b.get(p.path);
    expect(stepOf(page.text)).toBe('result');
    expect(resultOf(page.text)).toBe('expired');
    expect(page.text).toContain('The time to pay has run out. Nothing was charged.');
    expect(page.text).not.toContain('<form');
    expect(page.text).not.toMatch(/id="(login|password)"/);
    expect(w.daemon.payments.get(p.id).status, 'recorded as the sweeper would').toBe('expired');
    const late = await b.post(`/checkout/${p.id}/login`, { token: p.token, csrf, login: 'alice' });
    expect(late.status).toBe(409);
    expect(resultOf(late.text)).toBe('expired');
    expect(late.text).not.toContain('<form');
    expect(w.engine.requests).toHaveLength(0);
    const json = JSON.parse((await b.get(`/checkout/${p.id}/status?token=${p.token}`)).text);
    expect(json).toMatchObject({ status: 'expired', step: 'result', expires_in: 0, phone_ending: null, progress: [] });
    const back = await b.get(`/checkout/${p.id}/return?token=${p.token}`);
    expect(new URL(back.location!).searchParams.get('status')).toBe('expired');
  });
});
