import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, startWorld, type TestWorld } from './helpers/daemon.js';
import { checkoutToken } from '../src/checkout/tokens.js';
import { PASSWORD, Client, field, stepOf, resultOf, testid, expectSafePage, expectPageHeaders, type Created, createPayment, signIn, checkoutWorld } from './helpers/checkout.js';

/** The hosted checkout page over HTTP (fetch with a small cookie jar standing in for a browser): structure, headers, tokens, CSRF, final states, languages, escaping. */
describe('checkout pages', () => {
  let w: TestWorld;
  let b: Client;
  let shop: { id: string; apiKey: string; secret: string };
  const status = async (id: string) => (await w.daemon.store.payments.get(id)).status;

  beforeAll(async () => {
    ({ w, shop } = await checkoutWorld());
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
    expect(await status(p.id)).toBe('requires_consumer');
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
    expect(await status(p.id)).toBe('requires_consumer');
    expect(w.engine.requests).toHaveLength(0);
    // The same session still works with the right pair.
    w.engine.script.push({ kind: 'approved' });
    expect((await b.post(`/checkout/${p.id}/login`, { token: p.token, csrf, login: 'alice' })).status).toBe(303);
    await eventually(async () => expect(await status(p.id)).toBe('succeeded'));
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
    expect(await status(p.id)).toBe('requires_consumer');
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
    await eventually(async () => expect(await status(refunded.id)).toBe('succeeded'));
    expect((await w.api('POST', `/v1/payments/${refunded.id}/refunds`, { body: {}, idem: `re-${Math.random()}` })).status).toBe(201);
    await eventually(async () => expect(await status(failedPin.id)).toBe('declined'));

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
    expect((await w.daemon.store.payments.get(p.id)).status, 'recorded as the sweeper would').toBe('expired');
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
