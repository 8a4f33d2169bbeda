import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startWorld, type TestWorld } from './helpers/daemon.js';
import { launchBrowser, screenshot, type TestBrowser } from './helpers/browser.js';
import { tempDir } from './helpers/cli.js';
import { startSipp, type Sipp } from './helpers/sipp.js';
import { writeDtmfPcap } from './helpers/pcap.js';
import { PIN, PASSWORD, type MerchantSite, startMerchantSite, enrolConsumer, createPayment, step, waitStep, signIn, enterPassword, callThat, recordRequests, pageText, expectNoPhoneNumber, verifyReturnSignature } from './helpers/checkout-browser.js';

/**
 * The hosted checkout page as a consumer meets it: Debian's Chromium, driven by playwright-core,
 * against a daemon of the test's own. Every test ends with no console error, uncaught error or CSP
 * violation on the page, and a screenshot of its final screen in test-results/screenshots/.
 */

describe('checkout page in Chromium', { timeout: 120_000 }, () => {
  let w: TestWorld | undefined;
  let b: TestBrowser | undefined;
  let sipp: Sipp | undefined;
  /** The merchant's website, where every result page sends the consumer back (nothing leaves loopback). */
  let site: MerchantSite;
  const cleanups: Array<() => Promise<void>> = [];
  const thanks = () => `${site.url}/thanks?order=ORD-1042`;

  beforeEach(async () => {
    site = await startMerchantSite();
  });

  afterEach(async () => {
    // The browser first: its open event stream would hold the daemon's shutdown.
    await b?.close();
    await w?.close();
    await sipp?.stop();
    await site.close();
    for (const c of cleanups.splice(0)) await c();
    b = w = sipp = undefined;
  });

  /** The screenshot of a final screen, and the page's clean bill of health. */
  async function finish(page: Page, name: string): Promise<void> {
    await screenshot(page, name);
    // Late reports (the favicon Chromium asks for after load, a CSP report) are requests too: wait
    // until the page's network has gone quiet, then look.
    await page.waitForLoadState('load');
    await page.waitForLoadState('networkidle');
    expect(b!.problems, 'console errors, page errors or CSP violations').toEqual([]);
  }

  it('full flow: sign in, password, a real call where the phone keys the PIN, back to the merchant with a valid signature', async () => {
    const pcapDir = tempDir('callpay-browser-pcap-');
    cleanups.push(async () => pcapDir.remove());
    const pcap = join(pcapDir.path, 'pin.pcap');
    writeDtmfPcap(pcap, { digits: `${PIN}#`, leadMs: 1500, silencePayloadType: 0, gapMs: 150 });
    sipp = await startSipp({ scenario: 'answer-dtmf', pcap, timeoutMs: 60_000 });
    w = await startWorld({
      CALLPAY_TELEPHONY_SIP_BIND_PORT: '0',
      CALLPAY_TELEPHONY_SIP_REQUEST_URI: `sip:{number}@127.0.0.1:${sipp.port}`,
      CALLPAY_TELEPHONY_RTP_PORT_MIN: '35000',
      CALLPAY_TELEPHONY_RTP_PORT_MAX: '35999',
      CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000',
      CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '2000',
      CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '2000',
    }, { configuredEngine: true });
    const merchant = JSON.parse((await w.cli(['merchant', 'add', '--name', 'Shilin Night Market', '--json'])).stdout) as { api_key: string; webhook_secret: string };
    await enrolConsumer(w, 'alice', { locale: 'en-US' });
    const payment = await createPayment(w, { key: merchant.api_key, returnUrl: thanks() });

    b = await launchBrowser();
    const { page } = b;
    const requests = recordRequests(page, w.daemon.url);
    const shown: string[] = [];
    await page.goto(payment.checkoutUrl);
    expect(await step(page)).toBe('login');
    await expect(page.locator('[data-testid=merchant]').innerText()).resolves.toContain('Shilin Night Market');
    await expect(page.locator('[data-testid=amount]').innerText()).resolves.toMatch(/150(\.00)?/);
    await expect(page.locator('[data-testid=reference]').innerText()).resolves.toContain('ORD-1042');
    await expect(page.locator('[data-testid=expires]').innerText()).resolves.toMatch(/\d/);
    shown.push(await pageText(page));
    await screenshot(page, 'checkout-1-login');

    await signIn(page, 'alice');
    await waitStep(page, 'password');
    shown.push(await pageText(page));
    await screenshot(page, 'checkout-2-password');
    await enterPassword(page, PASSWORD);

    await waitStep(page, 'calling', 'result');
    expect(await step(page), 'the call takes seconds: the page follows it').toBe('calling');
    await expect(page.locator('#checkout').innerText()).resolves.toMatch(/(…|\.\.\.|\*|•)\s*78\b/);
    // The live line follows the call (server-sent events): it changes from what the server rendered.
    const status = page.locator('[data-testid=status]');
    const rendered = await status.innerText();
    // (Polled from here: waitForFunction would need eval, which the page's CSP rightly forbids.)
    await expect.poll(() => status.innerText(), { timeout: 20_000 }).not.toBe(rendered);
    shown.push(await pageText(page));
    await screenshot(page, 'checkout-3-calling');

    const result = page.locator('[data-testid=result]');
    await result.waitFor({ timeout: 45_000 });
    expect(await result.getAttribute('data-status')).toBe('succeeded');
    shown.push(await pageText(page));
    await finish(page, 'checkout-4-succeeded');
    const returnLink = new URL((await page.locator('[data-testid=return]').getAttribute('href'))!, page.url());
    expect(returnLink.pathname).toBe(`/checkout/${payment.id}/return`);

    // The result page sends the consumer back by itself after a few seconds.
    await page.waitForURL((u) => u.href.startsWith(`${site.url}/thanks`), { timeout: 10_000 });
    expect(site.visits).toHaveLength(1);
    const query = site.visits[0]!.searchParams;
    expect(query.get('order')).toBe('ORD-1042');
    expect(query.get('payment_id')).toBe(payment.id);
    expect(query.get('status')).toBe('succeeded');
    expect(Math.abs(Number(query.get('t')) - Date.now() / 1000)).toBeLessThan(120);
    expect(verifyReturnSignature(query, merchant.webhook_secret), 'signature verifies with the webhook secret').toBe(true);
    expect(verifyReturnSignature(query, merchant.webhook_secret.slice(0, -1) + 'x'), 'and not with another secret').toBe(false);
    const forged = new URLSearchParams(query);
    forged.set('status', 'declined');
    expect(verifyReturnSignature(forged, merchant.webhook_secret), 'a changed status breaks it').toBe(false);

    for (const [i, text] of shown.entries()) expectNoPhoneNumber(text, `screen ${i + 1}`);
    const polled = await fetch(`${w.daemon.url}/checkout/${payment.id}/status?${new URL(payment.checkoutUrl).searchParams}`);
    expectNoPhoneNumber(await polled.text(), 'the status JSON');

    // Every request to this payment's pages carried its token; every form post its CSRF token too.
    const toPayment = requests.filter((r) => new URL(r.url()).pathname.startsWith(`/checkout/${payment.id}`));
    expect(toPayment.length).toBeGreaterThan(3);
    for (const r of toPayment) {
      const token = new URL(r.url()).searchParams.get('token') ?? new URLSearchParams(r.postData() ?? '').get('token');
      expect(token, `${r.method()} ${r.url()}`).toBe(new URL(payment.checkoutUrl).searchParams.get('token'));
      if (r.method() === 'POST') expect(new URLSearchParams(r.postData() ?? '').get('csrf'), `${r.url()} csrf`).toBeTruthy();
    }
    expect((await sipp.outcome()).code, sipp.logs()).toBe(0);
  });

  it('wrong password: an error on the password step, which stays; the right one then goes on', async () => {
    w = await startWorld();
    await enrolConsumer(w, 'alice');
    w.engine.script.push(callThat({ kind: 'approved' }));
    const payment = await createPayment(w, { returnUrl: thanks() });
    b = await launchBrowser();
    const { page } = b;
    await page.goto(payment.checkoutUrl);
    await signIn(page, 'alice');
    await waitStep(page, 'password');
    await enterPassword(page, 'not the password');

    const error = page.locator('[data-testid=error]');
    await error.waitFor();
    expect(await error.getAttribute('role')).toBe('alert');
    expect((await error.innerText()).trim()).not.toBe('');
    expect(await step(page)).toBe('password');
    expect(await page.locator('[data-testid=password-form] #password').isVisible()).toBe(true);
    expect(await page.locator('[data-testid=password-form] #password').inputValue(), 'a wrong password is not echoed back').toBe('');
    expect(w.engine.requests, 'no call for a wrong password').toHaveLength(0);
    await finish(page, 'checkout-wrong-password');

    await enterPassword(page, PASSWORD);
    await page.locator('[data-testid=result][data-status=succeeded]').waitFor();
    expect(w.engine.requests).toHaveLength(1);
    expect(b.problems).toEqual([]);
  });

  it('does not ask for the password below the consumer\'s threshold', async () => {
    w = await startWorld();
    await enrolConsumer(w, 'alice');
    const policy = await w.cli(['consumer', 'policy', 'alice', '--password-above', '500']);
    expect(policy.code, policy.stderr).toBe(0);
    w.engine.script.push(callThat({ kind: 'approved' }));
    const payment = await createPayment(w, { amount: 10000, returnUrl: thanks() });
    b = await launchBrowser();
    const { page } = b;
    const requests = recordRequests(page, w.daemon.url);
    const steps: Array<string | null> = [];
    page.on('domcontentloaded', () => void step(page).then((s) => steps.push(s), () => undefined));
    await page.goto(payment.checkoutUrl);
    await signIn(page, 'alice');
    await waitStep(page, 'calling', 'result');
    await page.locator('[data-testid=result][data-status=succeeded]').waitFor();
    expect(await page.locator('[data-testid=password-form]').count()).toBe(0);
    expect(steps).not.toContain('password');
    expect(requests.filter((r) => new URL(r.url()).pathname.endsWith('/password'))).toHaveLength(0);
    expect(w.engine.requests).toHaveLength(1);
    await finish(page, 'checkout-no-password-succeeded');
  });

  it('shows an expired payment as expired, with no form', async () => {
    w = await startWorld();
    await enrolConsumer(w, 'alice');
    const payment = await createPayment(w, { returnUrl: thanks() });
    w.clock.advance(601_000);
    await w.daemon.sweeper.sweep();
    expect((await w.api('GET', `/v1/payments/${payment.id}`)).body.status).toBe('expired');
    b = await launchBrowser();
    const { page } = b;
    await page.goto(payment.checkoutUrl);
    expect(await step(page)).toBe('result');
    expect(await page.locator('[data-testid=result]').getAttribute('data-status')).toBe('expired');
    expect(await page.locator('form').count(), 'no form of any kind').toBe(0);
    expect(await page.locator('#login, #password').count()).toBe(0);
    await finish(page, 'checkout-expired');
    // Back to the merchant with the signed outcome, like a success.
    await page.waitForURL((u) => u.href.startsWith(`${site.url}/thanks`), { timeout: 10_000 });
    const query = site.visits[0]!.searchParams;
    expect(query.get('status')).toBe('expired');
    expect(verifyReturnSignature(query, (await w.ctx.store.webhookSecrets.active(w.merchantId))[0]!)).toBe(true);
  });

  it('shows a canceled payment as canceled, with no form', async () => {
    w = await startWorld();
    const payment = await createPayment(w, { returnUrl: thanks() });
    const canceled = await w.api('POST', `/v1/payments/${payment.id}/cancel`, { body: {}, idem: 'cancel-1' });
    expect(canceled.body.status, JSON.stringify(canceled.body)).toBe('canceled');
    b = await launchBrowser();
    const { page } = b;
    await page.goto(payment.checkoutUrl);
    expect(await page.locator('[data-testid=result]').getAttribute('data-status')).toBe('canceled');
    expect(await page.locator('form').count()).toBe(0);
    await finish(page, 'checkout-canceled');
  });

  it.each(['server-sent events', 'polling'] as const)('follows the call live (%s): busy, a retry, answered, the result', async (transport) => {
    w = await startWorld();
    await enrolConsumer(w, 'alice', { password: null });
    let answer!: () => void;
    const phoneFree = new Promise<void>((resolve) => (answer = resolve));
    w.engine.script.push(async (req) => {
      req.onProgress({ type: 'dialing', attempt: 1 });
      req.onProgress({ type: 'not_answered', attempt: 1, outcome: 'busy', retryInMs: 20_000 });
      await phoneFree;
      req.onProgress({ type: 'dialing', attempt: 2 });
      req.onProgress({ type: 'ringing', attempt: 2 });
      req.onProgress({ type: 'answered', attempt: 2 });
      await new Promise((r) => setTimeout(r, 300));
      req.onProgress({ type: 'pin', result: 'ok' });
      return { kind: 'approved' };
    });
    const payment = await createPayment(w, { returnUrl: thanks() });
    b = await launchBrowser();
    const { page } = b;
    // Without EventSource the page must fall back to polling /status.
    if (transport === 'polling') await b.context.addInitScript('window.EventSource = undefined;');
    const requests = recordRequests(page, w.daemon.url);
    await page.goto(payment.checkoutUrl);
    await signIn(page, 'alice');
    await waitStep(page, 'calling');
    const status = page.locator('[data-testid=status]');
    await expect.poll(() => status.innerText(), { timeout: 10_000 }).toMatch(/busy/i);
    expect(await status.innerText()).toMatch(/\b20\b/);
    expect(await status.getAttribute('aria-live')).toBe('polite');
    await screenshot(page, `checkout-busy-retry-${transport === 'polling' ? 'polling' : 'sse'}`);
    answer();
    await page.locator('[data-testid=result][data-status=succeeded]').waitFor({ timeout: 15_000 });
    const paths = requests.map((r) => new URL(r.url()).pathname);
    if (transport === 'polling') {
      expect(paths).not.toContain(`/checkout/${payment.id}/events`);
      expect(paths).toContain(`/checkout/${payment.id}/status`);
    } else {
      expect(paths).toContain(`/checkout/${payment.id}/events`);
    }
    expect(b.problems).toEqual([]);
  });

  it('speaks Traditional Chinese to a zh-TW browser, and switches language on request', async () => {
    w = await startWorld();
    const payment = await createPayment(w, { returnUrl: thanks() });
    b = await launchBrowser({ locale: 'zh-TW' });
    const { page } = b;
    await page.goto(payment.checkoutUrl);
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-TW');
    const han = /[\u4e00-\u9fff]/;
    const label = (await page.locator('label[for=login]').innerText()).trim();
    expect(label).toMatch(han);
    expect(await page.locator('[data-testid=login-form] button[type=submit]').innerText()).toMatch(han);
    expect(await page.locator('h1').first().innerText()).toMatch(han);
    await expect(page.locator('[data-testid=amount]').innerText()).resolves.toMatch(/150/);
    await finish(page, 'checkout-zh-TW-login');

    await page.locator('[data-testid=lang-en-US]').click();
    await expect.poll(() => page.locator('html').getAttribute('lang')).toBe('en-US');
    expect(await page.locator('label[for=login]').innerText()).not.toMatch(han);
    // The switch keeps the consumer on the same payment (its token still in the URL).
    expect(new URL(page.url()).pathname).toBe(`/checkout/${payment.id}`);
    expect(new URL(page.url()).searchParams.get('token')).toBe(new URL(payment.checkoutUrl).searchParams.get('token'));
    await page.locator('[data-testid=lang-zh-TW]').click();
    await expect.poll(() => page.locator('html').getAttribute('lang')).toBe('zh-TW');
    expect(b.problems).toEqual([]);
  });

  it('works from the keyboard: Tab reaches the labelled login field and the submit button, Enter submits', async () => {
    w = await startWorld();
    await enrolConsumer(w, 'alice');
    const payment = await createPayment(w, { returnUrl: thanks() });
    b = await launchBrowser();
    const { page } = b;
    await page.goto(payment.checkoutUrl);
    const focused = () => page.evaluate<string>(`(() => { const e = document.activeElement; return e ? e.tagName.toLowerCase() + '#' + e.id + '[' + (e.getAttribute('type') || '') + ']' : '' })()`);

    const tabTo = async (want: (f: string) => boolean, what: string) => {
      for (let i = 0; i < 20; i++) {
        await page.keyboard.press('Tab');
        if (want(await focused())) return;
      }
      throw new Error(`Tab never reached ${what}; last focus ${await focused()}`);
    };
    await tabTo((f) => f.startsWith('input#login'), 'the login field');
    // Labelled: its accessible name comes from a <label>, not a placeholder.
    expect(await page.evaluate<number>(`document.getElementById('login').labels.length`)).toBeGreaterThan(0);
    expect((await page.getByLabel(/.+/).and(page.locator('#login')).count())).toBe(1);
    await page.keyboard.type('alice');
    await tabTo((f) => f.startsWith('button') && f.endsWith('[submit]'), 'the submit button');
    await page.keyboard.press('Shift+Tab');
    expect(await focused()).toMatch(/^input#login/);
    await page.keyboard.press('Enter');

    await waitStep(page, 'password');
    expect(await focused(), 'focus lands on the password field').toMatch(/^input#password/);
    await page.keyboard.type('wrong password!');
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=error]').waitFor();
    await finish(page, 'checkout-keyboard-password-error');
  });
});
