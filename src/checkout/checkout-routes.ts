import { Router, type Request, type Response } from 'express';
import { isCallpayError } from '../domain/errors.js';
import { normalizeLogin } from '../domain/consumer.js';
import { FINAL_STATUSES } from '../domain/payment.js';

import { STRINGS, type Lang } from './i18n.js';
import { csrfCookieOf, ensureCsrfCookie, pageLang, param, routeId, sendHtml } from './http.js';
import { clientKey, takeAll, type AttemptLimiter } from './limiter.js';
import { signedReturnUrl } from './return-url.js';
import { checkoutToken, csrfField, validCheckoutToken, validCsrf } from './tokens.js';
import { messagePage, paymentPage } from './views.js';
import { allowedField, formBody, textRefused } from './form-input.js';
import { stepOf, type CheckoutContext } from './context.js';
import { streamEvents } from './events.js';
import type { Payment } from '../domain/payment.js';

/** Messages a redirect may ask the page to show: a closed set of codes, never text from the URL. */
const ERRORS = { login: 'login', password: 'password' } as const;

export function checkoutRoutes(c: CheckoutContext): Router {
  const router = Router();
  const { d } = c;
  const form = formBody({ limit: '8kb', parameterLimit: 10 });

  const base = (id: string) => `/checkout/${encodeURIComponent(id)}`;
  const pageUrl = (id: string, extra = '') => `${base(id)}?token=${checkoutToken(d.keyring, id)}${extra}`;

  /** The token first (it needs no lookup), then the payment: every failure is the same 404. */
  const authorized = async (id: string, token: string | undefined): Promise<Payment | undefined> =>
    validCheckoutToken(d.keyring, id, token) ? c.current(id) : undefined;

  const render = async (req: Request, res: Response, p: Payment, lang: Lang, status: number, error?: string) => {
    const token = checkoutToken(d.keyring, p.id);
    const merchant = await d.store.merchants.get(p.merchantId);
    const step = stepOf(p.status);
    // Only a page with a form needs the CSRF cookie.
    const cookie = step === 'login' || step === 'password' ? ensureCsrfCookie(req, res, c.cookies) : undefined;
    const html = paymentPage(c.shell(lang, (l) => pageUrl(p.id, `&lang=${l}`)), {
      paymentId: p.id,
      token,
      urls: {
        page: pageUrl(p.id),
        status: `${base(p.id)}/status?token=${token}`,
        events: `${base(p.id)}/events?token=${token}`,
        return: `${base(p.id)}/return?token=${token}`,
        login: `${base(p.id)}/login`,
        password: `${base(p.id)}/password`,
      },
      step,
      status: p.status,
      failureCode: p.failureCode,
      merchantName: merchant.displayName,
      amount: p.amount,
      currency: p.currency,
      reference: p.reference,
      description: p.description === merchant.displayName ? '' : p.description,
      expiresIn: c.expiresIn(p),
      csrf: cookie ? csrfField(d.keyring, p.id, cookie) : '',
      error,
      phoneEnding: await c.phoneEnding(p),
      progress: step === 'calling' ? d.progress.recent(p.id) : [],
    });
    sendHtml(res, status, html);
  };

  router.get('/checkout/:id', async (req, res) => {
    const id = routeId(req);
    const p = await authorized(id, param(req.query, 'token'));
    if (!p) return c.notFound(req, res);
    const lang = pageLang(req, res, c.cookies);
    const t = STRINGS[lang];
    const code = param(req.query, 'error');
    const step = stepOf(p.status);
    // An error is shown only on the step it belongs to, so a stale link shows nothing odd.
    const error = code === ERRORS.login && step === 'login' ? t.loginFailed : code === ERRORS.password && step === 'password' ? t.passwordFailed : undefined;
    await render(req, res, p, lang, 200, error);
  });

  /**
   * Common to every form: the payment token (404 when wrong), then the CSRF pair (403 when missing
   * or wrong; nothing is processed). Returns undefined when it has already answered.
   */
  const guard = async (req: Request, res: Response): Promise<{ p: Payment; lang: Lang } | undefined> => {
    const id = routeId(req);
    const p = await authorized(id, param(req.body, 'token'));
    if (!p) {
      c.notFound(req, res);
      return undefined;
    }
    const lang = pageLang(req, res, c.cookies);
    if (!validCsrf(d.keyring, p.id, csrfCookieOf(req, c.cookies), param(req.body, 'csrf'))) {
      d.log.warn({ paymentId: p.id }, 'checkout: form refused (CSRF token missing or wrong)');
      const t = STRINGS[lang];
      sendHtml(res, 403, messagePage(c.shell(lang), { title: t.forbiddenTitle, message: t.forbidden, link: { href: pageUrl(p.id), text: t.reload } }));
      return undefined;
    }
    return { p, lang };
  };

  const tooMany = (res: Response, p: Payment, lang: Lang) => {
    const t = STRINGS[lang];
    res.setHeader('Retry-After', '900');
    sendHtml(res, 429, messagePage(c.shell(lang), { title: t.tooManyTitle, message: t.tooMany, link: { href: pageUrl(p.id), text: t.reload } }));
  };

  /** The request belongs to a step the payment has left (e.g. the merchant passed the login). */
  const moved = (req: Request, res: Response, p: Payment, lang: Lang) => render(req, res, p, lang, 409, STRINGS[lang].stepMoved);

  router.post('/checkout/:id/login', form, async (req, res) => {
    const g = await guard(req, res);
    if (!g) return;
    const { p, lang } = g;
    if (p.status !== 'requires_consumer') return moved(req, res, p, lang);
    if (!allowedField(req.body, 'login')) return render(req, res, p, lang, 400, textRefused(STRINGS[lang], STRINGS[lang].loginLabel));
    const log = d.log.child({ paymentId: p.id });
    const address = clientKey(req.ip);
    let login: string | undefined;
    try {
      login = normalizeLogin(param(req.body, 'login') ?? '');
    } catch {
      login = undefined;
    }
    const keys: Array<[AttemptLimiter, string]> = [[c.limiter.loginAddress, address], ...(login ? [[c.limiter.loginLogin, login] as [AttemptLimiter, string]] : [])];
    // Anyone can make a payment-QR payment: the calls its sign-ins place are capped per address too.
    const fromQr = p.metadata.source === 'payment_qr';
    if (!(await takeAll(fromQr ? [...keys, [c.limiter.qrCallAddress, address]] : keys))) {
      log.warn('checkout: login attempts over the limit');
      return tooMany(res, p, lang);
    }
    const result = await d.payments.identify(p.id, param(req.body, 'login') ?? '');
    if (fromQr && !(result.kind === 'identified' && result.payment.status === 'calling')) await c.limiter.qrCallAddress.refund(address);
    if (result.kind === 'refused') {
      // One answer for every reason, so the page tells nobody whether the login account exists.
      log.info({ reason: result.reason, ...(result.consumerId ? { consumerId: result.consumerId } : {}) }, 'checkout: login refused');
      return res.redirect(303, pageUrl(p.id, `&error=${ERRORS.login}`));
    }
    for (const [limiter, key] of keys) await limiter.refund(key);
    // 'moved': another request or the sweeper moved the payment first; the page shows where it is now.
    if (result.kind === 'identified') log.info({ consumerId: result.consumerId }, 'checkout: consumer identified');
    res.redirect(303, pageUrl(p.id));
  });

  router.post('/checkout/:id/password', form, async (req, res) => {
    const g = await guard(req, res);
    if (!g) return;
    const { p, lang } = g;
    if (p.status !== 'requires_password' || !p.consumerId) return moved(req, res, p, lang);
    if (!allowedField(req.body, 'password')) return render(req, res, p, lang, 400, textRefused(STRINGS[lang], STRINGS[lang].passwordLabel));
    const log = d.log.child({ paymentId: p.id, consumerId: p.consumerId });
    const address = clientKey(req.ip);
    // Counted before the (slow) check so parallel guesses cannot overtake the limit; a success gives it back.
    if (!(await takeAll([[c.limiter.passwordAddress, address], [c.limiter.passwordLogin, p.consumerId]]))) {
      log.warn('checkout: password attempts over the limit (web step paused; phone authorization unaffected)');
      return tooMany(res, p, lang);
    }
    const result = await d.payments.submitPassword(p.id, param(req.body, 'password') ?? '');
    if (result.kind === 'wrong') {
      log.info('checkout: wrong password');
      return res.redirect(303, pageUrl(p.id, `&error=${ERRORS.password}`));
    }
    if (result.kind === 'accepted') {
      await c.limiter.passwordLogin.clear(p.consumerId);
      await c.limiter.passwordAddress.refund(address);
      log.info('checkout: password verified');
    }
    res.redirect(303, pageUrl(p.id));
  });

  router.get('/checkout/:id/status', async (req, res) => {
    const p = await authorized(routeId(req), param(req.query, 'token'));
    if (!p) return c.notFound(req, res);
    res.json({ ...(await c.statusJson(p)), progress: d.progress.recent(p.id) });
  });

  router.get('/checkout/:id/events', async (req, res) => {
    const p = await authorized(routeId(req), param(req.query, 'token'));
    if (!p) return c.notFound(req, res);
    await streamEvents(c, res, p);
  });

  router.get('/checkout/:id/return', async (req, res) => {
    const p = await authorized(routeId(req), param(req.query, 'token'));
    if (!p) return c.notFound(req, res);
    if (!FINAL_STATUSES.has(p.status)) return res.redirect(303, pageUrl(p.id));
    const secret = (await d.store.webhookSecrets.active(p.merchantId))[0];
    if (!secret) d.log.warn({ paymentId: p.id, merchantId: p.merchantId }, 'checkout: merchant has no active webhook secret; return not signed');
    const url = signedReturnUrl(p.returnUrl, secret, p.id, p.status, Math.floor(d.clock().getTime() / 1000));
    // callpay's own pages (the QR "thank you" page) are reached by path, whatever host served this.
    const own = new URL(d.publicUrl);
    res.redirect(303, url.origin === own.origin ? `${url.pathname}${url.search}` : url.href);
  });

  return router;
}
