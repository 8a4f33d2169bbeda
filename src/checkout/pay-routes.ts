import { randomBytes } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { isCallpayError } from '../domain/errors.js';
import { parseMajorAmount } from '../domain/money.js';
import { FINAL_STATUSES } from '../domain/payment.js';

import { amountExample, formatDateTime, STRINGS, type Lang, type ResultStatus } from './i18n.js';
import { csrfCookieOf, ensureCsrfCookie, pageLang, param, routeId, sendHtml } from './http.js';
import { clientKey } from './limiter.js';
import { canonicalPayQuery, payLinkSignature, readPayLink, type PayLinkParams } from './pay-link.js';
import { verifyReturn } from './return-url.js';
import { checkoutPath, csrfField, validCsrf } from './tokens.js';
import { messagePage, payDonePage, payLandingPage } from './views.js';
import { allowedField, formBody, textRefused } from './form-input.js';
import type { CheckoutContext } from './context.js';
import type { Merchant } from '../domain/merchant.js';

/**
 * The landing page of a printed payment QR (a stall without a website): a signed link names the
 * merchant and, optionally, the amount; the consumer confirms or types the amount, and callpay
 * creates the payment and opens its checkout page.
 */
export function payRoutes(c: CheckoutContext): Router {
  const router = Router();
  const { d } = c;
  const form = formBody({ limit: '4kb', parameterLimit: 10 });
  const scope = (merchantId: string) => `merchant:${merchantId}`;

  const linkUrl = (merchantId: string, link: PayLinkParams, extra = '') => {
    const query = canonicalPayQuery(link);
    return `/pay/${encodeURIComponent(merchantId)}?${query ? `${query}&` : ''}sig=${payLinkSignature(d.keyring, merchantId, link)}${extra}`;
  };

  const merchantOf = (id: string): Promise<Merchant | undefined> => d.store.merchants.find(id);

  const landing = (req: Request, res: Response, o: { status: number; lang: Lang; merchant: Merchant; link: PayLinkParams; error?: string; amountValue?: string }) => {
    const cookie = ensureCsrfCookie(req, res, c.cookies);
    const currency = o.link.currency ?? d.defaultCurrency;
    sendHtml(res, o.status, payLandingPage(c.shell(o.lang, (l) => linkUrl(o.merchant.id, o.link, `&lang=${l}`)), {
      merchantName: o.merchant.displayName,
      amount: o.link.amount,
      currency,
      reference: o.link.reference,
      description: o.link.description,
      action: linkUrl(o.merchant.id, o.link),
      csrf: csrfField(d.keyring, scope(o.merchant.id), cookie),
      example: amountExample(currency),
      amountValue: o.amountValue,
      error: o.error,
    }));
  };

  router.get('/pay/:merchantId', async (req, res) => {
    const id = routeId(req, 'merchantId');
    const link = readPayLink(d.keyring, id, req.query);
    const merchant = link && (await merchantOf(id));
    if (!link || !merchant) return c.notFound(req, res);
    const lang = pageLang(req, res, c.cookies);
    const error = merchant.status === 'active' ? undefined : STRINGS[lang].merchantUnavailable;
    landing(req, res, { status: 200, lang, merchant, link, ...(error ? { error } : {}) });
  });

  router.post('/pay/:merchantId', form, async (req, res) => {
    const id = routeId(req, 'merchantId');
    const link = readPayLink(d.keyring, id, req.query);
    const merchant = link && (await merchantOf(id));
    if (!link || !merchant) return c.notFound(req, res);
    const lang = pageLang(req, res, c.cookies);
    const t = STRINGS[lang];
    if (!validCsrf(d.keyring, scope(id), csrfCookieOf(req, c.cookies), param(req.body, 'csrf'))) {
      d.log.warn({ merchantId: id }, 'payment QR: form refused (CSRF token missing or wrong)');
      return sendHtml(res, 403, messagePage(c.shell(lang), { title: t.forbiddenTitle, message: t.forbidden, link: { href: linkUrl(id, link), text: t.reload } }));
    }
    // Inputs first: a mistyped amount creates nothing, so it costs no attempt.
    const currency = link.currency ?? d.defaultCurrency;
    const typed = param(req.body, 'amount') ?? '';
    if (!allowedField(req.body, 'amount')) return landing(req, res, { status: 400, lang, merchant, link, error: textRefused(t, t.amountLabel) });
    let amount = link.amount;
    if (amount === undefined) {
      try {
        amount = parseMajorAmount(typed.replace(/[\s,]/g, ''), currency);
      } catch {
        amount = undefined;
      }
      if (!amount) return landing(req, res, { status: 422, lang, merchant, link, error: fillExample(t.amountInvalid, currency), amountValue: typed.slice(0, 20) });
    }
    if (!(await c.limiter.payAddress.take(clientKey(req.ip)))) {
      res.setHeader('Retry-After', '900');
      return sendHtml(res, 429, messagePage(c.shell(lang), { title: t.tooManyTitle, message: t.tooMany }));
    }
    try {
      const payment = await d.payments.create(merchant, {
        amount,
        currency,
        reference: link.reference ?? `qr-${randomBytes(6).toString('hex')}`,
        description: link.description ?? merchant.displayName,
        returnUrl: `${d.publicUrl}/pay/${encodeURIComponent(merchant.id)}/done`,
        metadata: { source: 'payment_qr' },
      });
      d.log.info({ paymentId: payment.id, merchantId: merchant.id }, 'payment QR: payment created');
      res.redirect(303, checkoutPath(d.keyring, payment.id));
    } catch (e) {
      if (!isCallpayError(e) || (e.code !== 'amount_too_large' && e.code !== 'invalid_state')) throw e;
      const error = e.code === 'amount_too_large' ? t.amountTooLarge : t.merchantUnavailable;
      landing(req, res, { status: 422, lang, merchant, link, error, amountValue: typed.slice(0, 20) });
    }
  });

  /** Where a QR payment returns: the signed result, checked, with the payment as recorded. */
  router.get('/pay/:merchantId/done', async (req, res) => {
    const id = routeId(req, 'merchantId');
    const merchant = await merchantOf(id);
    if (!merchant) return c.notFound(req, res);
    const lang = pageLang(req, res, c.cookies);
    const params = new URL(req.originalUrl, 'http://localhost').searchParams;
    const verified = verifyReturn(params, await d.store.webhookSecrets.active(id), { now: d.clock().getTime() / 1000 });
    const payment = verified ? await d.store.payments.find(params.get('payment_id') ?? '') : undefined;
    if (!payment || payment.merchantId !== id || !FINAL_STATUSES.has(payment.status)) {
      return sendHtml(res, 200, payDonePage(c.shell(lang), { verified: false }));
    }
    sendHtml(res, 200, payDonePage(c.shell(lang), {
      verified: true,
      status: payment.status as ResultStatus,
      merchantName: merchant.displayName,
      amount: payment.amount,
      currency: payment.currency,
      reference: payment.reference,
      at: formatDateTime(payment.updatedAt, lang, d.timeZone),
      atIso: payment.updatedAt,
    }));
  });

  return router;
}

function fillExample(template: string, currency: string): string {
  return template.replace('{example}', amountExample(currency));
}
