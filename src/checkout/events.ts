import type { Response } from 'express';
import { FINAL_STATUSES } from '../domain/payment.js';
import type { CheckoutContext } from './context.js';
import type { Payment } from '../domain/payment.js';

const POLL_MS = 500;
const HEARTBEAT_MS = 15_000;
const MAX_LIFETIME_MS = 30 * 60_000;
/** A call may outlast the payment's expiry a little; the page keeps listening that long. */
const CALL_SLACK_MS = 5 * 60_000;

/** Open server-sent event streams, so they are bounded and can all be ended when the daemon stops. */
export class StreamRegistry {
  private readonly byPayment = new Map<string, Set<() => void>>();
  private total = 0;

  constructor(private readonly limits: { total: number; perPayment: number }) {}

  add(paymentId: string, close: () => void): (() => void) | undefined {
    const set = this.byPayment.get(paymentId) ?? new Set();
    if (this.total >= this.limits.total || set.size >= this.limits.perPayment) return undefined;
    set.add(close);
    this.byPayment.set(paymentId, set);
    this.total++;
    return () => {
      if (!set.delete(close)) return;
      this.total--;
      if (set.size === 0) this.byPayment.delete(paymentId);
    };
  }

  closeAll(): void {
    for (const set of [...this.byPayment.values()]) for (const close of [...set]) close();
  }
}

/**
 * `event: status` now and whenever the payment's status changes (the database is polled: the call
 * runs elsewhere), `event: progress` for each call event (recent ones first, for a late page).
 * Ends at a final status or when the payment's time is up; the page then falls back to polling.
 */
export async function streamEvents(c: CheckoutContext, res: Response, payment: Payment): Promise<void> {
  const { d } = c;
  const first = await c.statusJson(payment);
  let closed = false;
  let cleanup = () => {};
  const close = () => {
    if (closed) return;
    closed = true;
    cleanup();
    res.end();
  };
  const unregister = c.streams.add(payment.id, close);
  if (!unregister) {
    res.setHeader('Retry-After', '5');
    res.status(429).type('text/plain').send('too many event streams; poll /status instead');
    return;
  }
  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
  const send = (event: string, data: unknown) => {
    if (!closed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };

  res.write('retry: 2000\n\n');
  let last = payment.status;
  send('status', first);
  for (const e of d.progress.recent(payment.id)) send('progress', e);
  const unsubscribe = d.progress.subscribe(payment.id, (e) => send('progress', e));

  // One look at a time: a slow read never stacks polls on top of each other.
  let looking = false;
  const look = async () => {
    const now = await c.current(payment.id);
    if (!now) return close();
    if (now.status !== last) {
      last = now.status;
      send('status', await c.statusJson(now));
    }
    const overdue = d.clock().getTime() - Date.parse(now.expiresAt) > (now.status === 'calling' ? CALL_SLACK_MS : 0);
    if (FINAL_STATUSES.has(now.status) || overdue) close();
  };
  const poll = setInterval(() => {
    if (looking || closed) return;
    looking = true;
    look()
      .catch((e: unknown) => d.log.warn({ paymentId: payment.id, err: e }, 'checkout: status poll failed'))
      .finally(() => (looking = false));
  }, POLL_MS);
  const heartbeat = setInterval(() => {
    if (!closed) res.write(': keep-alive\n\n');
  }, HEARTBEAT_MS);
  const untilExpiry = Date.parse(payment.expiresAt) - d.clock().getTime() + CALL_SLACK_MS;
  const lifetime = setTimeout(close, Math.min(MAX_LIFETIME_MS, Math.max(10_000, untilExpiry)));

  cleanup = () => {
    clearInterval(poll);
    clearInterval(heartbeat);
    clearTimeout(lifetime);
    unsubscribe();
    unregister();
  };
  res.on('close', close);
  if (FINAL_STATUSES.has(payment.status)) close();
}
