import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, startWorld, type TestWorld } from './helpers/daemon.js';
import { checkoutToken } from '../src/checkout/tokens.js';
import { usePgWorlds, WORLD_STORES } from './helpers/pg-world.js';
import { PASSWORD, PHONE_FORMS, Client, field, stepOf, resultOf, testid, expectSafePage, expectPageHeaders, readmeVerifier, createPayment, signIn, enterPassword, heldCall, readEvents, checkoutWorld } from './helpers/checkout.js';

/** The consumer's way through the checkout page over HTTP: sign-in, password, attempt limits, live call progress and the signed return; the scripted engine plays the call. */
usePgWorlds();

describe.each(WORLD_STORES)('checkout flow (%s)', (store) => {
  let w: TestWorld;
  let b: Client;
  let shop: { id: string; apiKey: string; secret: string };
  const status = async (id: string) => (await w.daemon.store.payments.get(id)).status;

  beforeAll(async () => {
    ({ w, shop } = await checkoutWorld({}, store));
  });
  afterAll(async () => w.close());

  const client = (acceptLanguage?: string) => (b = new Client(w.daemon.url, acceptLanguage));

  it('signs in, follows the call live (SSE and /status), shows the result and returns to the merchant with a valid signature', async () => {
    const call = heldCall();
    w.engine.script.push(call.script);
    const calls = w.engine.requests.length;
    const p = await createPayment(w, {}, shop.apiKey);
    const r = await signIn(client(), p, '  Alice ');
    expect(r.status).toBe(303);
    expect(r.location).toBe(`/checkout/${p.id}?token=${p.token}`);
    await eventually(() => expect(w.engine.requests).toHaveLength(calls + 1));
    await call.ringing;

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
    expect(verifyReturn(to.searchParams, (await w.ctx.store.webhookSecrets.active(w.merchantId))[0]!), 'another merchant\'s secret').toBe(false);
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
    await eventually(async () => expect(await status(p.id)).toBe('succeeded'));
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
    expect(await status(p.id)).toBe('requires_password');

    // The consumer is not locked and no PIN failure was counted: the phone side is untouched.
    expect((await w.ctx.store.consumers.findByLogin('dora'))?.status).toBe('active');
    expect(await w.query('SELECT count(*) AS n FROM pin_failures')).toEqual([{ n: 0 }]);
    w.engine.script.push({ kind: 'approved' });
    const byMerchant = await w.api('POST', '/v1/payments', { idem: `dora-${Math.random()}`, body: { amount: 15000, currency: 'TWD', reference: 'r', description: 'd', return_url: 'https://shop.example/', login_account: 'dora' } });
    expect(byMerchant.body.status, 'the merchant passed the login: the password is still asked for').toBe('requires_password');

    // The window slides: fifteen minutes later the web step is open again.
    w.clock.advance(15 * 60_000 + 1_000);
    const later = await createPayment(w);
    expect((await signIn(client(), later, 'dora')).status).toBe(303);
    expect((await enterPassword(b, later, PASSWORD)).status).toBe(303);
    await eventually(async () => expect(await status(later.id)).toBe('succeeded'));
  });

  it('skips the password below the consumer\'s threshold', async () => {
    w.engine.script.push({ kind: 'approved' });
    const p = await createPayment(w, { amount: 15000 });
    const r = await signIn(client(), p, 'carol');
    expect(r.status).toBe(303);
    const page = await b.get(r.location!);
    expect(['calling', 'result']).toContain(stepOf(page.text));
    expect(page.text).not.toContain('password-form');
    await eventually(async () => expect(await status(p.id)).toBe('succeeded'));
    expect((await w.daemon.store.payments.transitions(p.id)).map((t) => t.toStatus)).not.toContain('requires_password');
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
      expect(await status(p.id)).toBe('requires_consumer');
      // Everything but the payment's own id, token and CSRF field is the same.
      seen.push(page.text.replaceAll(p.id, 'ID').replaceAll(p.token, 'TOKEN').replace(/name="csrf" value="[^"]*"/, ''));
    }
    expect(new Set(seen).size).toBe(1);
    expect(w.engine.requests).toHaveLength(calls);
    expect((await w.ctx.store.consumers.findByLogin('locked.larry'))?.status).toBe('locked');
  });

  it('refuses the login step when the merchant already passed the login account, showing the current step', async () => {
    const p = await createPayment(w, { login_account: 'bob' });
    expect(await status(p.id)).toBe('requires_password');
    const r = await signIn(client(), p, 'alice');
    expect(r.status).toBe(409);
    expect(stepOf(r.text)).toBe('password');
    expect(testid(r.text, 'error')).toBe('This step is already done. Here is where the payment stands now.');
    expect((await w.daemon.store.payments.get(p.id)).consumerId).toBe((await w.ctx.store.consumers.findByLogin('bob'))?.id);
  });

});
