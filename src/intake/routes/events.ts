import { Router } from 'express';
import { CallpayError } from '../../domain/errors.js';
import { merchantOf } from '../auth.js';
import { listEventsQuery, parseWith } from '../schemas.js';
import { EVENT_TYPES, type EventType } from '../../domain/event.js';
import type { EventRepository } from '../../payments/repositories.js';

/** The merchant's own events, oldest first, replayable from any sequence number. */
export function eventRoutes(events: EventRepository): Router {
  const router = Router();
  router.get('/events', async (req, res) => {
    const q = parseWith(listEventsQuery, req.query, 'query');
    if (q.type !== undefined && !(EVENT_TYPES as readonly string[]).includes(q.type)) {
      throw new CallpayError('invalid_field', `type: expected one of ${EVENT_TYPES.join(', ')}`, 'type');
    }
    const page = await events.list(merchantOf(req).id, {
      after: q.after,
      limit: q.limit + 1,
      ...(q.type ? { type: q.type as EventType } : {}),
      ...(q.payment_id ? { paymentId: q.payment_id } : {}),
    });
    const data = page.slice(0, q.limit);
    res.json({
      object: 'list',
      data: data.map((e) => ({ id: e.id, seq: e.seq, type: e.type, created_at: e.createdAt, data: e.data })),
      has_more: page.length > q.limit,
      next_after: data.at(-1)?.seq ?? q.after,
    });
  });
  return router;
}
