import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, startWorld, type TestWorld } from './helpers/daemon.js';
import { buildPayLink, payLinkSignature } from '../src/checkout/pay-link.js';
import { Client, field, stepOf, testid } from './helpers/checkout.js';
import { usePgWorlds, WORLD_STORES } from './helpers/pg-world.js';

/** The payment-QR landing (a stall without a website) and its "done" page, over HTTP. */

const formAction = (page: string) => /<form data-testid="pay-form" method="post" action="([^"]+)">/.exec(page)?.[1]?.replaceAll('&amp;', '&') ?? '';
const pathOf = (url: string) => {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
};

usePgWorlds();

describe.each(WORLD_STORES)('payment QR landing (%s)', (store) => {
  let w: TestWorld;
  const publicUrl = 'http://127.0.0.1:8080';
  const payments = async () => {
    const [row] = await w.query<{ n: number }>('SELECT count(*) AS n FROM payments');
    expect(typeof row?.n).toBe('number');
    return row!.n;
  };

  beforeAll(async () => {
    w = await startWorld({}, { store });
    await enrolPrepaid(w, 'alice', '1000');
  });
  afterAll(async () => w.close());

  it('builds signed links: canonical order, percent-encoded, refusing bad parameters', () => {
    const link = new URL(buildPayLink(`${publicUrl}/`, w.ctx.keyring, w.merchantId, { description: 'Bubble tea & more', amount: 12050, reference: 'Stall 12', currency: 'TWD' }));
    expect(`${link.origin}${link.pathname}`).toBe(`${publicUrl}/pay/${w.merchantId}`);
    expect(link.search).toMatch(/^\?amount=12050&currency=TWD&reference=Stall%2012&description=Bubble%20tea%20%26%20more&sig=[A-Za-z0-9_-]{43}$/);
    expect(link.searchParams.get('sig')).toBe(payLinkSignature(w.ctx.keyring, w.merchantId, { amount: 12050, currency: 'TWD', reference: 'Stall 12', description: 'Bubble tea & more' }));
    expect(payLinkSignature(w.ctx.keyring, w.merchantId, { amount: 12051, currency: 'TWD' })).not.toBe(payLinkSignature(w.ctx.keyring, w.merchantId, { amount: 12050, currency: 'TWD' }));
    for (const bad of [{ amount: 0 }, { amount: 1.5 }, { currency: 'XYZ' }, { reference: '' }, { reference: 'a\nb' }, { description: 'x'.repeat(201) }]) {
      expect(() => buildPayLink(publicUrl, w.ctx.keyring, w.merchantId, bad), JSON.stringify(bad)).toThrow(/invalid|expected/i);
    }
  });

  it('fixed amount: shows merchant and amount with a Continue form, creates the payment and opens its checkout page', async () => {
    const link = buildPayLink(publicUrl, w.ctx.keyring, w.merchantId, { amount: 15000, currency: 'TWD', reference: 'Stall 12 / table 3', description: 'Oyster omelette' });
    const b = new Client(w.daemon.url);
    const page = await b.request('GET', pathOf(link));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(stepOf(page.text)).toBe('amount');
    expect(testid(page.text, 'merchant')).toBe('Night Market Stall 12');
    expect(testid(page.text, 'amount')).toBe('NT$150.00');
    expect(testid(page.text, 'reference')).toBe('Stall 12 / table 3');
    expect(page.text).not.toContain('<input id="amount"');
    expect(page.text).toMatch(/<button type="submit" autofocus>Continue<\/button>/);
    expect(page.text).not.toMatch(/<script\b[^>]*>[^<]+<\/script>|<[^>]*\sstyle=/);

    const before = await payments();
    expect((await b.request('POST', formAction(page.text), {})).status, 'no CSRF field').toBe(403);
    expect((await new Client(w.daemon.url).request('POST', formAction(page.text), { csrf: field(page.text, 'csrf') })).status, 'no cookie').toBe(403);
    expect(await payments()).toBe(before);

    const r = await b.request('POST', formAction(page.text), { csrf: field(page.text, 'csrf') });
    expect(r.status).toBe(303);
    const m = /^\/checkout\/(pay_\w+)\?token=([A-Za-z0-9_-]{43})$/.exec(r.location ?? '');
    expect(m, r.location ?? '').toBeTruthy();
    const created = (await w.api('GET', `/v1/payments/${m![1]}`)).body;
    expect(created).toMatchObject({ status: 'requires_consumer', amount: 15000, currency: 'TWD', reference: 'Stall 12 / table 3', description: 'Oyster omelette', metadata: { source: 'payment_qr' }, return_url: `${publicUrl}/pay/${w.merchantId}/done` });
    const checkout = await b.request('GET', r.location!);
    expect(stepOf(checkout.text)).toBe('login');
    expect(testid(checkout.text, 'amount')).toBe('NT$150.00');
  });

  it('open amount: an amount input; a bad amount stays on the page, a good one creates the payment; pays and returns to a verified "done" page', async () => {
    const link = buildPayLink(publicUrl, w.ctx.keyring, w.merchantId, { currency: 'TWD' });
    const b = new Client(w.daemon.url);
    const page = await b.request('GET', pathOf(link));
    expect(stepOf(page.text)).toBe('amount');
    expect(page.text).toMatch(/<label for="amount">Amount \(TWD\)<\/label>\n<input id="amount" name="amount" inputmode="decimal"[^>]* autofocus/);
    expect(page.text).not.toContain('data-testid="amount"');
    const csrf = field(page.text, 'csrf');

    const before = await payments();
    for (const typed of ['', 'abc', '12.345', '-5', '0', '99999999999999']) {
      const bad = await b.request('POST', formAction(page.text), { csrf, amount: typed });
      expect(bad.status, typed).toBe(422);
      expect(stepOf(bad.text)).toBe('amount');
      expect(testid(bad.text, 'error')).toMatch(/Enter an amount like 150\.50\.|above the maximum/);
      expect(field(bad.text, 'csrf')).toBe(csrf);
    }
    expect(/id="amount"[^>]* value="([^"]*)"/.exec((await b.request('POST', formAction(page.text), { csrf, amount: '12.345' })).text)?.[1], 'what was typed is kept').toBe('12.345');
    expect(await payments()).toBe(before);

    w.engine.script.push({ kind: 'approved' });
    const r = await b.request('POST', formAction(page.text), { csrf, amount: ' 234.50 ' });
    expect(r.status).toBe(303);
    const [, id, token] = /^\/checkout\/(pay_\w+)\?token=(.+)$/.exec(r.location ?? '') ?? [];
    const created = (await w.api('GET', `/v1/payments/${id}`)).body;
    expect(created).toMatchObject({ amount: 23450, currency: 'TWD', description: 'Night Market Stall 12' });
    expect(created.reference).toMatch(/^qr-[0-9a-f]{12}$/);

    const checkout = await b.request('GET', r.location!);
    expect((await b.request('POST', `/checkout/${id}/login`, { token: token!, csrf: field(checkout.text, 'csrf'), login: 'alice' })).status).toBe(303);
    await eventually(async () => expect((await w.daemon.store.payments.get(id!)).status).toBe('succeeded'));
    const back = await b.request('GET', `/checkout/${id}/return?token=${token}`);
    expect(back.status).toBe(303);
    expect(back.location, 'callpay\'s own page is reached by path').toMatch(new RegExp(`^/pay/${w.merchantId}/done\\?payment_id=${id}&status=succeeded&t=\\d+&signature=[0-9a-f]{64}$`));
    const done = await b.request('GET', back.location!);
    expect(done.status).toBe(200);
    expect(/data-testid="result" data-status="([a-z]+)"/.exec(done.text)?.[1]).toBe('succeeded');
    expect(testid(done.text, 'amount')).toBe('NT$234.50');
    expect(testid(done.text, 'reference')).toBe(created.reference);

    // A forged result (status changed, or signed with nothing) is not shown as paid.
    for (const forged of [back.location!.replace('status=succeeded', 'status=declined'), back.location!.replace(/signature=\w+/, 'signature=' + '0'.repeat(64)), `/pay/${w.merchantId}/done?payment_id=${id}&status=succeeded`]) {
      const r2 = await b.request('GET', forged);
      expect(/data-testid="result" data-status="([a-z]+)"/.exec(r2.text)?.[1], forged).toBe('unverified');
    }
  });

  it('answers a bad, missing or tampered signature, or an unknown merchant, with the 404 page', async () => {
    const link = new URL(buildPayLink(publicUrl, w.ctx.keyring, w.merchantId, { amount: 15000, currency: 'TWD', reference: 'Stall 12' }));
    const variants: string[] = [];
    for (const [k, v] of [['amount', '1'], ['currency', 'USD'], ['reference', 'Stall 13'], ['sig', 'A'.repeat(43)], ['description', 'added']] as const) {
      const u = new URL(link);
      u.searchParams.set(k, v);
      variants.push(pathOf(u.href));
    }
    const noSig = new URL(link);
    noSig.searchParams.delete('sig');
    variants.push(pathOf(noSig.href), `${pathOf(link.href)}&amount=15000`, pathOf(link.href).replace(w.merchantId, 'mer_01JZZZZZZZZZZZZZZZZZZZZZZZ'));
    const notFound = await new Client(w.daemon.url).request('GET', `/checkout/pay_nothing`);
    for (const path of variants) {
      const r = await new Client(w.daemon.url).request('GET', path);
      expect([r.status, r.text], path).toEqual([404, notFound.text]);
      const posted = await new Client(w.daemon.url).request('POST', path, { csrf: 'x' });
      expect(posted.status, `POST ${path}`).toBe(404);
    }
    // Extra parameters outside the signed set (a language choice) are fine.
    expect((await new Client(w.daemon.url).request('GET', `${pathOf(link.href)}&lang=zh-TW`)).text).toContain('<html lang="zh-TW">');
  });
});
