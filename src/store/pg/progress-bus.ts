import pg from 'pg';
import type { Logger } from '../../log.js';
import type { ProgressEvent, ProgressHub } from '../../payments/progress.js';
import type { PgPool } from './db.js';

const CHANNEL = 'callpay_progress';
/** NOTIFY payloads must stay under 8000 bytes; progress events are a few hundred. */
const MAX_PAYLOAD = 7000;
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 15_000;

interface Message {
  node: string;
  paymentId: string;
  event: ProgressEvent;
}

function parseMessage(payload: string | undefined): Message | null {
  if (!payload || payload.length > MAX_PAYLOAD) return null;
  try {
    const m = JSON.parse(payload) as Partial<Message>;
    if (typeof m.node !== 'string' || typeof m.paymentId !== 'string' || typeof m.event !== 'object' || m.event === null) return null;
    if (typeof m.event.type !== 'string' || typeof m.event.at !== 'string') return null;
    return m as Message;
  } catch {
    return null;
  }
}

export interface ProgressBus {
  close(): Promise<void>;
}

/**
 * Call progress across nodes: every event this node publishes goes out as a NOTIFY, and every other
 * node's arrives through a LISTEN connection of its own into the local hub, so a checkout page shows
 * "ringing…" whichever node serves it and whichever places the call. The payment's status does not
 * depend on this (pages poll it from the database): while the LISTEN connection is down (it is
 * re-opened with backoff) a page only misses the in-between call events.
 */
export function startPgProgressBus(o: { url: string; pool: PgPool; node: string; hub: ProgressHub; log: Logger }): ProgressBus {
  let client: pg.Client | null = null;
  let closed = false;
  let retryMs = RECONNECT_MIN_MS;
  let timer: NodeJS.Timeout | undefined;

  const unobserve = o.hub.observe((paymentId, event) => {
    const payload = JSON.stringify({ node: o.node, paymentId, event } satisfies Message);
    if (payload.length > MAX_PAYLOAD) return;
    o.pool.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]).catch((e: unknown) => o.log.debug({ err: e }, 'progress NOTIFY failed'));
  });

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: o.url, application_name: 'callpay-progress', connectionTimeoutMillis: 10_000 });
    c.on('notification', (n) => {
      const m = parseMessage(n.payload);
      if (m && m.node !== o.node) o.hub.publishRemote(m.paymentId, m.event);
    });
    c.on('error', (e) => {
      o.log.warn({ err: e }, 'progress LISTEN connection lost; reconnecting');
      void c.end().catch(() => {});
      if (client === c) client = null;
      schedule();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNEL}`);
    } catch (e) {
      void c.end().catch(() => {});
      throw e;
    }
    if (closed) return void (await c.end());
    client = c;
    retryMs = RECONNECT_MIN_MS;
  };

  const schedule = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      connect().catch((e: unknown) => {
        o.log.warn({ err: e, retryMs }, 'progress LISTEN connection failed; retrying');
        retryMs = Math.min(retryMs * 2, RECONNECT_MAX_MS);
        schedule();
      });
    }, retryMs);
    timer.unref();
  };

  connect().catch((e: unknown) => {
    o.log.warn({ err: e }, 'progress LISTEN connection failed; retrying');
    schedule();
  });

  return {
    async close() {
      closed = true;
      unobserve();
      clearTimeout(timer);
      await client?.end().catch(() => {});
      client = null;
    },
  };
}
