import { Router, type Request, type Response } from 'express';
import type { PaymentService } from '../../payments/service.js';
import type { Store, StoredResponse, Transaction } from '../../payments/repositories.js';
import { paymentResource, type ApiContext } from '../../payments/view.js';
import { isCallpayError } from '../../domain/errors.js';
import { merchantOf } from '../auth.js';
import { idempotencyKey, requestHash } from '../idempotency.js';
import { cancelSchema, createPaymentSchema, listPaymentsQuery, parseWith, refundSchema } from '../schemas.js';
import { errorBody, statusFor } from '../errors.js';
import { requireJsonBody } from '../body.js';

export interface PaymentRoutesDeps {
  store: Store;
  payments: PaymentService;
  api: ApiContext;
  defaultCurrency: string;
}

export function paymentRoutes(d: PaymentRoutesDeps): Router {
  const router = Router();
  const resource = (p: Parameters<typeof paymentResource>[0]) => paymentResource(p, d.api);

  /**
   * Runs `work` once per Idempotency-Key: the stored response and the state change commit in one
   * transaction; a replay returns the stored response, marked. Business refusals are stored too,
   * so a retry gets the same answer (the refused work itself is undone).
   */
  const idempotent = async (req: Request, res: Response, work: (tx: Transaction) => Promise<StoredResponse>) => {
    const merchant = merchantOf(req);
    const key = idempotencyKey(req);
    const hash = requestHash(req);
    const { response, replay } = await d.store.withTransaction(async (tx) => {
      const stored = await tx.idempotency.lookup(merchant.id, key, hash);
      if (stored) return { response: stored, replay: true };
      let response: StoredResponse;
      try {
        response = await tx.withTransaction(work);
      } catch (e) {
        if (!isCallpayError(e) || statusFor(e) >= 500 || statusFor(e) === 429) throw e;
        response = { status: statusFor(e), body: errorBody(e) };
      }
      await tx.idempotency.save(merchant.id, key, hash, response);
      return { response, replay: false };
    });
    if (replay) res.setHeader('Idempotent-Replayed', 'true');
    res.status(response.status).json(response.body);
  };

  router.post('/payments', requireJsonBody, async (req, res) => {
    const input = parseWith(createPaymentSchema, req.body);
    await idempotent(req, res, async (tx) => {
      const payment = await d.payments.create(merchantOf(req), {
        amount: input.amount,
        currency: input.currency ?? d.defaultCurrency,
        reference: input.reference,
        description: input.description,
        returnUrl: input.return_url,
        loginAccount: input.login_account,
        metadata: input.metadata ?? {},
      }, tx);
      return { status: 201, body: resource(payment) };
    });
  });

  router.get('/payments', async (req, res) => {
    const q = parseWith(listPaymentsQuery, req.query, 'query');
    const page = await d.store.payments.list(merchantOf(req).id, { limit: q.limit + 1, ...(q.reference ? { reference: q.reference } : {}), ...(q.status ? { status: q.status } : {}), ...(q.starting_after ? { before: q.starting_after } : {}) });
    const data = page.slice(0, q.limit);
    res.json({ object: 'list', data: data.map(resource), has_more: page.length > q.limit, next_cursor: page.length > q.limit ? data.at(-1)?.id ?? null : null });
  });

  router.get('/payments/:id', async (req, res) => {
    res.json(resource(await d.store.payments.getForMerchant(merchantOf(req).id, idParam(req))));
  });

  router.post('/payments/:id/cancel', requireJsonBody, async (req, res) => {
    parseWith(cancelSchema, req.body ?? {});
    const payment = await d.payments.cancel(merchantOf(req), idParam(req));
    res.json(resource(payment));
  });

  router.post('/payments/:id/refunds', requireJsonBody, async (req, res) => {
    const input = parseWith(refundSchema, req.body ?? {});
    await idempotent(req, res, async (tx) => {
      const { payment, refundId, amount } = await d.payments.refund(merchantOf(req), idParam(req), input.amount, input.reason ?? null, tx);
      return { status: 201, body: { id: refundId, object: 'refund', amount, currency: payment.currency, reason: input.reason ?? null, payment: resource(payment) } };
    });
  });

  router.get('/payments/:id/transitions', async (req, res) => {
    const payment = await d.store.payments.getForMerchant(merchantOf(req).id, idParam(req));
    res.json({ object: 'list', data: (await d.store.payments.transitions(payment.id)).map((t) => ({ from: t.fromStatus, to: t.toStatus, reason: t.reason, at: t.createdAt })) });
  });

  return router;
}

function idParam(req: Request): string {
  const id = req.params.id;
  return typeof id === 'string' ? id : '';
}
