import type { Logger } from '../log.js';
import type { DueDelivery } from '../domain/event.js';
import type { Clock } from '../domain/clock.js';
import { replaceRefused } from '../domain/text.js';
import type { DeliveryRepository, WebhookSecretRepository } from '../payments/repositories.js';
import { signatureHeader } from './signature.js';
import { describeFetchError } from './fetch-error.js';

/**
 * Delivers the webhook outbox. Delivery is at-least-once: a row stays 'pending' until the outcome of
 * its request is written, so a crash between the merchant's 2xx and that write sends the event again.
 * Merchants must therefore dedupe by event id (the body's `id`, also in `Callpay-Event-Id`).
 */
export interface WebhookDispatcher {
  start(): void;
  /** Stops polling and waits for deliveries already in flight. */
  stop(): Promise<void>;
  /** One pass over due deliveries; resolves with how many were attempted. */
  runOnce(): Promise<number>;
}

export interface DispatcherDeps {
  deliveries: DeliveryRepository;
  secrets: WebhookSecretRepository;
  clock: Clock;
  log: Logger;
  timeoutMs: number;
  pollIntervalMs: number;
  fetchImpl?: typeof fetch;
  random?: () => number;
}

const BATCH = 20;
const CONCURRENCY = 4;
/** Extra lease time beyond the request timeout before a claimed row may be taken again. */
const LEASE_MARGIN_MS = 60_000;
const MINUTE = 60_000;
const SCHEDULE_MS = [10_000, 30_000, MINUTE, 5 * MINUTE, 15 * MINUTE, 30 * MINUTE, 60 * MINUTE, 120 * MINUTE];
const THEN_EVERY_MS = 240 * MINUTE;

/** Delay before the next try after `attempts` failed ones: a growing schedule with ±10 % jitter. */
export function retryDelayMs(attempts: number, random: () => number = Math.random): number {
  const base = SCHEDULE_MS[attempts - 1] ?? THEN_EVERY_MS;
  return Math.round(base * (0.9 + 0.2 * random()));
}

export function createWebhookDispatcher(deps: DispatcherDeps): WebhookDispatcher {
  const { clock, log, timeoutMs, pollIntervalMs } = deps;
  const doFetch = deps.fetchImpl ?? fetch;
  const random = deps.random ?? Math.random;
  const store = deps.deliveries;
  const inFlight = new Set<Promise<unknown>>();
  let timer: NodeJS.Timeout | undefined;
  let running = false;

  function track<T>(p: Promise<T>): Promise<T> {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => undefined);
    return p;
  }

  async function runOnce(): Promise<number> {
    const now = clock();
    const leaseUntil = new Date(now.getTime() + timeoutMs + LEASE_MARGIN_MS).toISOString();
    const claimed: DueDelivery[] = [];
    for (const d of await store.due(now.toISOString(), BATCH)) if (await store.claim(d, leaseUntil)) claimed.push(d);
    // Secrets are opened once per merchant per pass, not per delivery.
    const secretsOf = new Map<string, string[]>();
    const queue = [...claimed];
    const worker = async () => {
      for (let d = queue.shift(); d; d = queue.shift()) {
        if (!secretsOf.has(d.merchantId)) secretsOf.set(d.merchantId, await deps.secrets.active(d.merchantId));
        await deliver(d, secretsOf.get(d.merchantId) ?? []);
      }
    };
    await track(Promise.all(Array.from({ length: Math.min(CONCURRENCY, queue.length) }, worker)));
    return claimed.length;
  }

  async function deliver(d: DueDelivery, secrets: string[]): Promise<void> {
    const dlog = log.child({ deliveryId: d.id, eventId: d.eventId, merchantId: d.merchantId });
    if (secrets.length === 0) return failed(d, dlog, null, 'no active webhook secret (rotate one)');
    // Serialised once: these exact bytes are signed and sent.
    const body = JSON.stringify({ id: d.eventId, type: d.eventType, created_at: d.eventCreatedAt, data: JSON.parse(d.eventData) as unknown });
    const t = Math.floor(clock().getTime() / 1000);
    let res: Response;
    try {
      res = await doFetch(d.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'Callpay-Signature': signatureHeader(secrets, body, t),
          'Callpay-Event-Id': d.eventId,
          'User-Agent': 'callpay-webhooks/1',
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      return failed(d, dlog, null, describeFetchError(e, timeoutMs));
    }
    const snippet = await readSnippet(res);
    if (res.status >= 200 && res.status < 300) {
      await store.markDelivered(d.id, res.status, clock().toISOString());
      dlog.info({ httpStatus: res.status, attempt: d.attempts + 1 }, 'webhook delivered');
      return;
    }
    const redirect = res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : '';
    await failed(d, dlog, res.status, `HTTP ${res.status}${redirect}${snippet ? `: ${snippet}` : ''}`);
  }

  async function failed(d: DueDelivery, dlog: Logger, httpStatus: number | null, error: string): Promise<void> {
    const attempts = d.attempts + 1;
    const now = clock().getTime();
    const giveUp = Date.parse(d.giveUpAt);
    // The last try is placed at give_up_at itself rather than skipped.
    const next = now >= giveUp ? null : new Date(Math.min(now + retryDelayMs(attempts, random), giveUp)).toISOString();
    await store.markAttemptFailed(d.id, httpStatus, error.slice(0, 240), next);
    if (next) dlog.warn({ httpStatus, error, attempt: attempts, nextAttemptAt: next }, 'webhook attempt failed');
    else dlog.error({ httpStatus, error, attempt: attempts }, 'webhook delivery gave up');
  }

  // A stop() then start() while a pass is still running must not leave two polling chains.
  let generation = 0;

  function schedule(delayMs: number, gen: number): void {
    timer = setTimeout(() => {
      timer = undefined;
      runOnce()
        .catch((e: unknown) => {
          log.error({ err: e }, 'webhook dispatcher pass failed');
          return 0;
        })
        .then((n) => {
          // A full batch suggests a backlog: go again at once instead of waiting a poll interval.
          if (running && gen === generation) schedule(n === BATCH ? 0 : pollIntervalMs, gen);
        });
    }, delayMs);
    // The dispatcher alone never keeps the process alive.
    timer.unref();
  }

  return {
    start() {
      if (running) return;
      running = true;
      schedule(0, ++generation);
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await Promise.allSettled([...inFlight]);
    },
    runOnce,
  };
}

/** Up to 200 characters of the merchant's reply, for `webhook list`; never the whole body. */
async function readSnippet(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < 800) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } catch {
    // A reply cut short by the timeout still has a status.
  } finally {
    void reader.cancel().catch(() => undefined);
  }
  return replaceRefused(Buffer.concat(chunks).toString('utf8')).trim().slice(0, 200);
}

