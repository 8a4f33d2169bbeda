import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { Logger } from '../log.js';
import type { ConsumerChangeNotifier } from '../payments/self-service.js';
import type { ConsumerChangedEvent } from './consumer-hook-contract.js';
import { describeFetchError } from './fetch-error.js';
import { httpStatusFailure, signedPost } from './signed-post.js';

export interface ConsumerChangeHookOptions {
  url: string;
  /** Newest first; one v1 signature each (rotation, as for webhooks and the risk hook). */
  secrets: string[];
  /** One try, connection to the answer's last byte. */
  timeoutMs: number;
  clock: Clock;
  log: Logger;
  fetchImpl?: typeof fetch;
  /** The waits before the second, third… tries; their count + 1 is the number of tries. */
  retryDelaysMs?: readonly number[];
  /** Changes not yet delivered (sending or waiting to retry) kept at most; past it the oldest is dropped. */
  maxPending?: number;
}

export interface ConsumerChangeHook extends ConsumerChangeNotifier {
  /** Changes not yet delivered nor given up on. */
  pending(): number;
  /** Resolves once nothing is pending. */
  idle(): Promise<void>;
  /** Abandons every pending change, each logged at warn; later changes are only logged. */
  close(): void;
  /**
   * For a stopping daemon: every pending change waiting to retry is tried once more at once, and
   * what is still undelivered once those tries are answered (or timed out) is abandoned as by close().
   */
  stop(): Promise<void>;
}

export const CONSUMER_HOOK_RETRY_DELAYS_MS = [1_000, 5_000] as const;
const MAX_PENDING = 1_000;

interface Delivery {
  event: ConsumerChangedEvent;
  body: string;
  tries: number;
  abort: AbortController;
  timer?: NodeJS.Timeout;
}

/**
 * The ConsumerChangeNotifier that tells the carrier's own systems (which text or e-mail the consumer
 * "your PIN was changed by phone"): one signed POST per change. consumerChanged only queues it and
 * returns, so a slow or down hook never holds up the phone call; failures (timeout, no connection,
 * non-2xx) are retried in the background and, after the last try, logged at warn with the consumer id.
 * Every try of one change carries the same `id`, so the carrier can drop duplicates (a 2xx lost on
 * the way back is tried again). Retry timers are unref'd: they never keep a stopping daemon alive.
 */
export function createConsumerChangeHook(o: ConsumerChangeHookOptions): ConsumerChangeHook {
  const delays = o.retryDelaysMs ?? CONSUMER_HOOK_RETRY_DELAYS_MS;
  const maxPending = o.maxPending ?? MAX_PENDING;
  // Insertion order is arrival order: the first entry is the oldest, the one dropped on overflow.
  const pending = new Map<string, Delivery>();
  let waiters: Array<() => void> = [];
  let closed = false;
  /** stop() was called: a failed try is the last one. */
  let lastTries = false;

  const settle = (d: Delivery) => {
    if (d.timer) clearTimeout(d.timer);
    pending.delete(d.event.id);
    if (pending.size > 0) return;
    const done = waiters;
    waiters = [];
    for (const w of done) w();
  };

  const attempt = async (d: Delivery): Promise<void> => {
    d.tries += 1;
    const failure = await send(d);
    if (d.abort.signal.aborted) return; // dropped or closed meanwhile: already settled
    const data = d.event.data;
    if (failure === null) {
      o.log.debug({ consumerId: data.consumer_id, eventId: d.event.id, tries: d.tries }, 'consumer change notified');
      return settle(d);
    }
    if (lastTries) return abandon(d);
    const delay = delays[d.tries - 1];
    if (delay === undefined) {
      o.log.warn({ consumerId: data.consumer_id, eventId: d.event.id, change: data.change.kind, tries: d.tries, failure }, 'consumer change notification failed; giving up');
      return settle(d);
    }
    o.log.debug({ consumerId: data.consumer_id, eventId: d.event.id, tries: d.tries, failure, retryInMs: delay }, 'consumer change notification failed; will retry');
    d.timer = setTimeout(() => void attempt(d), delay);
    d.timer.unref();
  };

  /** Gives up on a change because the daemon stops: the audit log keeps the change itself. */
  const abandon = (d: Delivery) => {
    d.abort.abort();
    settle(d);
    const data = d.event.data;
    o.log.warn({ consumerId: data.consumer_id, eventId: d.event.id, change: data.change.kind, tries: d.tries }, 'consumer change notification abandoned: the daemon stopped');
  };

  /** One try: null when delivered (2xx), else why not (never the hook's body). */
  const send = async (d: Delivery): Promise<string | null> => {
    const outcome = await signedPost({
      url: o.url,
      secrets: o.secrets,
      body: d.body,
      // Signed afresh on every try: the receiver refuses a `t` more than 5 minutes off.
      signedAt: o.clock(),
      headers: { 'Callpay-Event-Id': d.event.id, 'User-Agent': 'callpay-consumer-notify/1' },
      timeoutMs: o.timeoutMs,
      signal: d.abort.signal,
      fetchImpl: o.fetchImpl,
      // The answer's body means nothing here; dropping it frees the connection.
      readAnswer: async (res) => {
        void res.body?.cancel().catch(() => undefined);
      },
    });
    switch (outcome.kind) {
      case 'answered': return httpStatusFailure(outcome.status);
      case 'timeout': return `timeout after ${o.timeoutMs} ms`;
      case 'aborted': return 'abandoned'; // dropped or closed: attempt() reports nothing for it
      case 'failed': return describeFetchError(outcome.error, o.timeoutMs);
    }
  };

  const idle = () => (pending.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve)));
  const close = () => {
    closed = true;
    for (const d of [...pending.values()]) abandon(d);
  };

  return {
    consumerChanged(change) {
      if (closed) return;
      const now = o.clock();
      const event: ConsumerChangedEvent = {
        id: newId('evt', now.getTime()),
        type: 'consumer.changed',
        created_at: now.toISOString(),
        data: {
          consumer_id: change.consumerId,
          change: change.change.kind === 'policy' ? { kind: 'policy', changed: [...change.change.changed] } : { kind: change.change.kind },
          via: change.via,
          at: change.at,
        },
      };
      if (pending.size >= maxPending) {
        const oldest = pending.values().next().value;
        if (oldest) {
          oldest.abort.abort();
          settle(oldest);
          o.log.warn({ consumerId: oldest.event.data.consumer_id, eventId: oldest.event.id, pendingLimit: maxPending }, 'consumer change notification dropped: too many pending');
        }
      }
      // Serialised once: these exact bytes are signed and sent on every try.
      const d: Delivery = { event, body: JSON.stringify(event), tries: 0, abort: new AbortController() };
      pending.set(event.id, d);
      void attempt(d);
    },
    pending: () => pending.size,
    idle,
    close,
    async stop() {
      closed = true;
      lastTries = true;
      for (const d of [...pending.values()]) {
        if (!d.timer) continue; // being sent: its answer (or timeout) ends it
        clearTimeout(d.timer);
        d.timer = undefined;
        void attempt(d);
      }
      // Each try is bounded by timeoutMs; the margin covers a try that began just before.
      const bound = new Promise<void>((resolve) => setTimeout(resolve, o.timeoutMs + 1_000).unref());
      await Promise.race([idle(), bound]);
      close();
    },
  };
}
