import { Router, type Request, type Response } from 'express';
import type { Db } from '../../store/db.js';
import type { PaymentRepository } from '../../store/payments.js';
import type { PaymentCore } from '../../payments/service.js';
import type { CallRunner } from '../../payments/calls.js';
import { paymentResource, type ApiContext } from '../../payments/view.js';
import { isCallpayError } from '../../domain/errors.js';
import { merchantOf } from '../auth.js';
import { idempotencyKey, requestHash, type IdempotencyStore, type StoredResponse } from '../idempotency.js';
import { createPaymentSchema, listPaymentsQuery, parseWith, refundSchema } from '../schemas.js';
import { errorBody, statusFor } from '../errors.js';
import { requireJsonBody } from '../body.js';

export interface PaymentRoutesDeps {
  db: Db;
  core: PaymentCore;
  calls: CallRunner;
  payments: PaymentRepository;
  idempotency: IdempotencyStore;
  api: ApiContext;
  defaultCurrency: string;
}

export function paymentRoutes(d: PaymentRoutesDeps): Router {
  const router = Router();
  const resource = (p: Parameters<typeof paymentResource>[0]) => paymentResource(p, d.api);

  /**
   * Runs `work` once per Idempotency-Key: the stored response and the state change commit in one
   * transaction; a replay returns the stored response, marked. Business refusals are stored too,
   * so a retry gets the same answer.
   */
  const idempotent = (req: Request, res: Response, work: () => { response: StoredResponse; after?: () => void }) => {
    const merchant = merchantOf(req);
    const key = idempotencyKey(req);
    const hash = requestHash(req);
    let after: (() => void) | undefined;
    const { response, replay } = d.db.transaction(() => {
      const stored = d.idempotency.lookup(merchant.id, key, hash);
      if (stored) return { response: stored, replay: true };
      let result: { response: StoredResponse; after?: () => void };
      try {
        result = d.db.transaction(work)();
      } catch (e) {
        if (!isCallpayError(e) || statusFor(e) >= 500 || statusFor(e) === 429) throw e;
        result = { response: { status: statusFor(e), body: errorBody(e) } };
      }
      d.idempotency.save(merchant.id, key, hash, result.response);
      after = result.after;
      return { response: result.response, replay: false };
    }).immediate();
    if (replay) res.setHeader('Idempotent-Replayed', 'true');
    res.status(response.status).json(response.body);
    after?.();
  };

  router.post('/payments', requireJsonBody, (req, res) => {
    const input = parseWith(createPaymentSchema, req.body);
    idempotent(req, res, () => {
      const { payment, callNeeded } = d.core.create(merchantOf(req), {
        amount: input.amount,
        currency: input.currency ?? d.defaultCurrency,
        reference: input.reference,
        description: input.description,
        returnUrl: input.return_url,
        loginAccount: input.login_account,
        metadata: input.metadata ?? {},
      });
      return { response: { status: 201, body: resource(payment) }, ...(callNeeded ? { after: () => d.calls.start(payment.id) } : {}) };
    });
  });

  router.get('/payments', (req, res) => {
    const q = parseWith(listPaymentsQuery, req.query, 'query');
    const page = d.payments.list(merchantOf(req).id, { limit: q.limit + 1, ...(q.reference ? { reference: q.reference } : {}), ...(q.status ? { status: q.status } : {}), ...(q.starting_after ? { before: q.starting_after } : {}) });
    const data = page.slice(0, q.limit);
    res.json({ object: 'list', data: data.map(resource), has_more: page.length > q.limit, next_cursor: page.length > q.limit ? data.at(-1)?.id ?? null : null });
  });

  router.get('/payments/:id', (req, res) => {
    res.json(resource(d.payments.getForMerchant(merchantOf(req).id, idParam(req))));
  });

  router.post('/payments/:id/cancel', requireJsonBody, (req, res) => {
    const payment = d.core.cancel(merchantOf(req), idParam(req));
    res.json(resource(payment));
  });

  router.post('/payments/:id/refunds', requireJsonBody, (req, res) => {
    const input = parseWith(refundSchema, req.body ?? {});
    idempotent(req, res, () => {
      const { payment, refundId, amount } = d.core.refund(merchantOf(req), idParam(req), input.amount, input.reason ?? null);
      return { response: { status: 201, body: { id: refundId, object: 'refund', amount, currency: payment.currency, reason: input.reason ?? null, payment: resource(payment) } } };
    });
  });

  router.get('/payments/:id/transitions', (req, res) => {
    const payment = d.payments.getForMerchant(merchantOf(req).id, idParam(req));
    res.json({ object: 'list', data: d.payments.transitions(payment.id).map((t) => ({ from: t.fromStatus, to: t.toStatus, reason: t.reason, at: t.createdAt })) });
  });

  return router;
}

function idParam(req: Request): string {
  const id = req.params.id;
  return typeof id === 'string' ? id : '';
}
