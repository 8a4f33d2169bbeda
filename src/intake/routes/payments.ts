import { Router, type Request, type Response } from 'express';
import type { PaymentService } from '../../payments/service.js';
import type { Store, StoredResponse, Transaction } from '../../payments/repositories.js';
import { paymentResource, type ApiContext } from '../../payments/view.js';
import { isCallpayError } from '../../domain/errors.js';
import type { Merchant } from '../../domain/merchant.js';
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

/** A stored response, and whether it answers an earlier request with the same Idempotency-Key. */
export interface IdempotentOutcome {
  response: StoredResponse;
  replay: boolean;
}

/**
 * Runs `work` once per Idempotency-Key: the stored response and the state change commit in one
 * transaction; a replay returns the stored response, marked. Business refusals are stored too,
 * so a retry gets the same answer (the refused work itself is undone).
 */
async function idempotent(store: Store, merchant: Merchant, key: string, hash: Buffer, work: (tx: Transaction) => Promise<StoredResponse>): Promise<IdempotentOutcome> {
  return store.withTransaction(async (tx) => {
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
}

/** POST /v1/payments for an authenticated merchant: its Idempotency-Key header and parsed JSON body (undefined: none sent). */
export type CreatePaymentRequest = (merchant: Merchant, idempotencyKeyHeader: string | undefined, body: unknown) => Promise<IdempotentOutcome>;

/** One implementation for the express route and the lean path (intake/lean.ts). */
export function createPaymentRequest(d: PaymentRoutesDeps): CreatePaymentRequest {
  return async (merchant, keyHeader, body) => {
    const input = parseWith(createPaymentSchema, body);
    return idempotent(d.store, merchant, idempotencyKey(keyHeader), requestHash('POST', '/payments', body), async (tx) => {
      const payment = await d.payments.create(merchant, {
        amount: input.amount,
        currency: input.currency ?? d.defaultCurrency,
        reference: input.reference,
        description: input.description,
        returnUrl: input.return_url,
        loginAccount: input.login_account,
        metadata: input.metadata ?? {},
      }, tx);
      return { status: 201, body: paymentResource(payment, d.api) };
    });
  };
}

function sendOutcome(res: Response, { response, replay }: IdempotentOutcome): void {
  if (replay) res.setHeader('Idempotent-Replayed', 'true');
  res.status(response.status).json(response.body);
}

export function paymentRoutes(d: PaymentRoutesDeps, create: CreatePaymentRequest = createPaymentRequest(d)): Router {
  const router = Router();
  const resource = (p: Parameters<typeof paymentResource>[0]) => paymentResource(p, d.api);

  router.post('/payments', requireJsonBody, async (req, res) => {
    sendOutcome(res, await create(merchantOf(req), req.get('idempotency-key'), req.body));
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
    const merchant = merchantOf(req);
    const key = idempotencyKey(req.get('idempotency-key'));
    sendOutcome(res, await idempotent(d.store, merchant, key, requestHash(req.method, req.path, req.body), async (tx) => {
      const { payment, refundId, amount } = await d.payments.refund(merchant, idParam(req), input.amount, input.reason ?? null, tx);
      return { status: 201, body: { id: refundId, object: 'refund', amount, currency: payment.currency, reason: input.reason ?? null, payment: resource(payment) } };
    }));
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
