import express, { type Express, type Router } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { CallpayError } from '../domain/errors.js';
import { authenticate, rateLimit, RateLimiter } from './auth.js';
import { errorHandler } from './errors.js';
import { refuseDuplicateKeys } from './body.js';
import { eventRoutes } from './routes/events.js';
import { callRoutes } from './routes/calls.js';
import { createPaymentRequest, paymentRoutes, type CreatePaymentRequest, type PaymentRoutesDeps } from './routes/payments.js';
import { BODY_LIMIT_BYTES, leanCreatePayment } from './lean.js';
import { startRequest } from './request-start.js';
import type { Clock } from '../domain/clock.js';
import { openApiDocument } from './openapi.js';
import { VERSION } from '../version.js';

export interface IntakeDeps extends PaymentRoutesDeps {
  log: Logger;
  clock: Clock;
  rateLimit: { perSecond: number; burst: number };
  /** Reverse proxies whose X-Forwarded-For is believed (http.trustedProxies). */
  trustedProxies: readonly string[];
  /** Readiness: false while starting or stopping. */
  ready(): boolean;
  /** The consumer's checkout pages and payment-QR landing (src/checkout), if served. */
  checkout?: Router;
}

/**
 * The public listener's request handler: the lean path takes the plain POST /v1/payments (the
 * merchants' hot path, intake/lean.ts), express everything else. Both share the rate limiter and
 * the create implementation.
 */
export function createIntakeListener(d: IntakeDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const limiter = new RateLimiter({ ...d.rateLimit, clock: d.clock });
  const create = createPaymentRequest(d);
  const app = createIntakeApp(d, limiter, create);
  const lean = leanCreatePayment({ log: d.log, merchants: d.store.merchants, limiter, create });
  return (req, res) => {
    if (!lean(req, res)) app(req, res);
  };
}

function createIntakeApp(d: IntakeDeps, limiter: RateLimiter, create: CreatePaymentRequest): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  // req.ip: X-Forwarded-For is believed only from the configured proxies (none by default).
  app.set('trust proxy', d.trustedProxies.length > 0 ? [...d.trustedProxies] : false);

  app.use((req, res, next) => {
    startRequest(d.log, res, req.method, () => req.path);
    next();
  });

  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.get('/readyz', (_req, res) => void res.status(d.ready() ? 200 : 503).json({ status: d.ready() ? 'ready' : 'not ready' }));

  // The API's description is public: a merchant's tooling reads it before it has a key.
  const document = openApiDocument(VERSION);
  app.get('/v1/openapi.json', (_req, res) => void res.json(document));

  const v1 = express.Router();
  v1.use(authenticate(d.store.merchants));
  v1.use(rateLimit(limiter));
  v1.use(express.json({ limit: BODY_LIMIT_BYTES, strict: true, type: 'application/json', verify: refuseDuplicateKeys }));
  v1.use(paymentRoutes(d, create));
  v1.use(callRoutes(d.store));
  v1.use(eventRoutes(d.store.events));
  app.use('/v1', v1);
  if (d.checkout) app.use(d.checkout);

  app.use((req, _res, next) => next(new CallpayError('not_found', `route: no ${req.method} ${req.path}`, 'path')));
  app.use(errorHandler(d.log));
  return app;
}
