import { afterEach, describe, expect, it } from 'vitest';
import { enrolPrepaid, startWorld, type TestWorld } from './helpers/daemon.js';
import { launchBrowser, screenshot, type TestBrowser } from './helpers/browser.js';

/**
 * A night-market stall without a website: `callpay merchant qr` prints a link, a phone opens it,
 * the consumer types the amount (or confirms the printed one), pays, and lands on callpay's own
 * "done" page, which the stall can glance at.
 */

/** The link's path and query on this world's daemon (the configured public URL is not where it listens). */
const onDaemon = (w: TestWorld, link: string) => {
  const u = new URL(link);
  return `${w.daemon.url}${u.pathname}${u.search}`;
};

describe('payment QR in Chromium', { timeout: 60_000 }, () => {
  let w: TestWorld | undefined;
  let b: TestBrowser | undefined;

  afterEach(async () => {
    await b?.close();
    await w?.close();
    b = w = undefined;
  });

  async function qrLink(args: string[]): Promise<string> {
    const r = await w!.cli(['merchant', 'qr', w!.merchantId, '--json', ...args]);
    expect(r.code, r.stderr).toBe(0);
    return onDaemon(w!, (JSON.parse(r.stdout) as { url: string }).url);
  }

  it('open amount: the consumer types it, pays, and sees the verified result on callpay\'s page', async () => {
    w = await startWorld();
    await enrolPrepaid(w, 'alice', '1000');
    w.engine.script.push({ kind: 'approved' });
    const link = await qrLink(['--reference', 'Stall 12']);
    b = await launchBrowser();
    const { page } = b;
    await page.goto(link);
    expect(await page.locator('#checkout').getAttribute('data-step')).toBe('amount');
    expect(await page.locator('[data-testid=merchant]').innerText()).toContain('Night Market Stall 12');
    expect(await page.locator('[data-testid=amount]').count(), 'no amount before it is typed').toBe(0);

    // A typo first: the same page again, with the error and what was typed.
    await page.locator('#amount').fill('12.345');
    await page.locator('button[type=submit]').click();
    await page.locator('[data-testid=error]').waitFor();
    expect(await page.locator('#checkout').getAttribute('data-step')).toBe('amount');
    expect(await page.locator('#amount').inputValue()).toBe('12.345');
    await screenshot(page, 'qr-amount-error');
    // The landing page answers a bad amount with 422 (not a redirect), which Chromium logs as a
    // failed resource: expected here, and the only report allowed.
    expect(b.problems).toEqual([expect.stringMatching(/^console: Failed to load resource: .* 422 /)]);
    b.problems.length = 0;

    await page.locator('#amount').fill('85');
    await page.locator('button[type=submit]').click();
    await page.waitForURL((u) => u.pathname.startsWith('/checkout/'));
    expect(await page.locator('#checkout').getAttribute('data-step')).toBe('login');
    expect(await page.locator('[data-testid=amount]').innerText()).toMatch(/85(\.00)?/);
    expect(await page.locator('[data-testid=reference]').innerText()).toContain('Stall 12');
    const paymentId = new URL(page.url()).pathname.split('/')[2]!;
    const created = (await w.api('GET', `/v1/payments/${paymentId}`)).body as { amount: number; currency: string; metadata: Record<string, string> };
    expect(created).toMatchObject({ amount: 8500, currency: 'TWD', metadata: { source: 'payment_qr' } });

    await page.locator('#login').fill('alice');
    await page.locator('button[type=submit]').click();
    await page.locator('[data-testid=result][data-status=succeeded]').waitFor();
    // The result page returns by itself to callpay's "done" page, which checks the signature.
    await page.waitForURL((u) => u.pathname === `/pay/${w!.merchantId}/done`, { timeout: 10_000 });
    expect(await page.locator('[data-testid=result]').getAttribute('data-status')).toBe('succeeded');
    await screenshot(page, 'qr-done');
    expect(b.problems).toEqual([]);
  });

  it('fixed amount: shown, not typed', async () => {
    w = await startWorld();
    const link = await qrLink(['--amount', '120.50', '--description', 'Bubble tea']);
    b = await launchBrowser({ locale: 'zh-TW' });
    const { page } = b;
    await page.goto(link);
    expect(await page.locator('[data-testid=amount]').innerText()).toMatch(/120\.50/);
    expect(await page.locator('#amount').count()).toBe(0);
    await screenshot(page, 'qr-fixed-amount-zh-TW');
    await page.locator('button[type=submit]').click();
    await page.waitForURL((u) => u.pathname.startsWith('/checkout/'));
    expect(await page.locator('#checkout').getAttribute('data-step')).toBe('login');
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-TW');
    expect(b.problems).toEqual([]);
  });
});
