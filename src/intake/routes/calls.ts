import { Router, type Request } from 'express';
import * as z from 'zod';
import type { Store } from '../../payments/repositories.js';
import { callAttemptResource } from '../../payments/call-view.js';
import { merchantOf } from '../auth.js';
import { parseWith } from '../schemas.js';

/** No query parameters: a payment has a handful of attempts, all returned at once. */
export const listCallsQuery = z.strictObject({});

/** More than any payment's dial attempts (retries are a few); bounds the reply all the same. */
const MAX_ATTEMPTS_LISTED = 100;

/** The call records (CDRs) of one of the merchant's payments, in attempt order. */
export function callRoutes(store: Store): Router {
  const router = Router();
  router.get('/payments/:id/calls', async (req: Request, res) => {
    parseWith(listCallsQuery, req.query, 'query');
    const id = typeof req.params.id === 'string' ? req.params.id : '';
    // Another merchant's payment is a 404, like GET /v1/payments/:id.
    const payment = await store.payments.getForMerchant(merchantOf(req).id, id);
    const attempts = await store.callRecords.list({ paymentId: payment.id, limit: MAX_ATTEMPTS_LISTED });
    res.json({ object: 'list', data: attempts.map(callAttemptResource), has_more: false });
  });
  return router;
}
