import { Router, type ErrorRequestHandler } from 'express';
import { loadAssets } from './assets.js';
import { CheckoutContext, type CheckoutDeps } from './context.js';
import { checkoutRoutes } from './checkout-routes.js';
import { payRoutes } from './pay-routes.js';
import { securityHeaders, pageLang, sendHtml } from './http.js';
import { STRINGS } from './i18n.js';
import { messagePage } from './views.js';

export type { CheckoutDeps, CheckoutLimits } from './context.js';
export { checkoutPath, checkoutToken } from './tokens.js';
export { buildPayLink, payLinkSignature, type PayLinkParams } from './pay-link.js';

export interface Checkout {
  /** Mount on the daemon's app before its 404 handler. */
  router: Router;
  /** Ends open event streams (they would otherwise hold the server open while stopping). */
  close(): void;
}

/** The consumer's side: hosted checkout pages, their live status, and the payment-QR landing. */
export function createCheckout(d: CheckoutDeps): Checkout {
  const assets = loadAssets(d.log);
  const c = new CheckoutContext({ ...d, publicUrl: d.publicUrl.replace(/\/+$/, '') }, assets.urls);
  const router = Router();
  router.use(assets.router);
  router.use(['/checkout', '/pay'], securityHeaders);
  router.use(checkoutRoutes(c));
  router.use(payRoutes(c));
  router.use(['/checkout', '/pay'], (req, res) => c.notFound(req, res));

  const errors: ErrorRequestHandler = (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    const lang = pageLang(req, res, c.cookies);
    const t = STRINGS[lang];
    // body-parser's errors carry a 4xx status (too large, too many fields, bad charset); anything else is ours.
    const given = (err as { status?: unknown } | null)?.status;
    const status = typeof given === 'number' && given >= 400 && given < 500 ? given : 500;
    if (status === 500) d.log.error({ err, method: req.method, path: req.path }, 'checkout: unhandled error');
    sendHtml(res, status, messagePage(c.shell(lang), { title: t.errorTitle, message: t.error }));
  };
  router.use(['/checkout', '/pay'], errors);

  return { router, close: () => c.streams.closeAll() };
}
