import type { CallRecord } from '../domain/call.js';
import type { Payment, PaymentStatus } from '../domain/payment.js';
import type { Repositories, Store, Transaction } from '../payments/repositories.js';
import type { Metrics } from './registry.js';

/** Where a payment's authorization ends (refunds come later and are not an end of authorization). */
const ENDS: ReadonlySet<PaymentStatus> = new Set(['succeeded', 'declined', 'failed', 'expired', 'canceled']);

const seconds = (from: string | null, to: string | null): number | null =>
  from === null || to === null ? null : Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);

/**
 * Counts what the application writes, at the one seam every write passes: the store port. Each count
 * is taken after its transaction commits (a rolled-back change is not counted), so the numbers are
 * the database's, not the attempts'. The store's behaviour is untouched.
 */
export function instrumentStore(store: Store, m: Metrics): Store {
  /** Attempts seen answered and not yet ended (the live-calls gauge), and ended ones already counted. */
  const live = new Set<string>();
  const counted = new Set<string>();

  function paymentEvent(p: Payment, created: boolean): void {
    const merchant = m.merchantLabels ? { merchant: p.merchantId } : {};
    if (created) m.paymentsCreated.inc({ status: p.status, ...merchant });
    if (ENDS.has(p.status)) m.paymentsEnded.inc({ status: p.status, reason: p.failureCode ?? 'none', ...merchant });
  }

  function callRecord(paymentId: string, attempt: number, r: CallRecord): void {
    const key = `${paymentId}|${attempt}`;
    if (r.answeredAt !== null && r.endedAt === null && !live.has(key)) {
      live.add(key);
      m.callsLive.inc();
    }
    if (r.endedAt === null || counted.has(key)) return;
    counted.add(key);
    if (counted.size > 10_000) counted.delete(counted.values().next().value as string);
    if (live.delete(key)) m.callsLive.dec();
    m.calls.inc({ outcome: r.outcome, sip_status: r.sipStatus === null ? 'none' : String(r.sipStatus) });
    const setup = seconds(r.startedAt, r.answeredAt ?? r.endedAt);
    if (setup !== null) m.callSetup.observe({ outcome: r.answeredAt !== null ? 'answered' : r.outcome }, setup);
    const duration = seconds(r.answeredAt, r.endedAt);
    if (duration !== null) m.callDuration.observe(duration);
  }

  /** The repositories' instrumented methods; `later` defers a count to the commit (or runs it now outside a transaction). */
  function wrap(repos: Repositories, later: (fn: () => void) => void): Partial<Repositories> {
    return {
      payments: extend(repos.payments, {
        insert: async (p, status, reason) => {
          const out = await repos.payments.insert(p, status, reason);
          later(() => paymentEvent(out, true));
          return out;
        },
        transition: async (id, to, reason, patch, expectFrom) => {
          const out = await repos.payments.transition(id, to, reason, patch, expectFrom);
          later(() => paymentEvent(out, false));
          return out;
        },
      }),
      callRecords: extend(repos.callRecords, {
        recordAttempt: async (paymentId, attempt, r) => {
          await repos.callRecords.recordAttempt(paymentId, attempt, r);
          const copy = { ...r };
          later(() => callRecord(paymentId, attempt, copy));
        },
        recordPinFailure: async (consumerId, paymentId, windowMs) => {
          const n = await repos.callRecords.recordPinFailure(consumerId, paymentId, windowMs);
          later(() => m.pinVerifications.inc({ result: 'wrong' }));
          return n;
        },
        clearPinFailures: async (consumerId) => {
          await repos.callRecords.clearPinFailures(consumerId);
          later(() => m.pinVerifications.inc({ result: 'right' }));
        },
      }),
      consumers: extend(repos.consumers, {
        setStatus: async (id, status) => {
          const before = await repos.consumers.get(id);
          const out = await repos.consumers.setStatus(id, status);
          // Inside the daemon only the PIN lockout locks a consumer (operators lock through the CLI).
          if (status === 'locked' && before.status !== 'locked') later(() => m.lockouts.inc());
          return out;
        },
      }),
      deliveries: extend(repos.deliveries, {
        markDelivered: async (id, httpStatus, nowIso) => {
          await repos.deliveries.markDelivered(id, httpStatus, nowIso);
          later(() => m.webhookDeliveries.inc({ result: 'delivered' }));
        },
        markAttemptFailed: async (id, httpStatus, error, next) => {
          await repos.deliveries.markAttemptFailed(id, httpStatus, error, next);
          later(() => m.webhookDeliveries.inc({ result: next === null ? 'failed' : 'retry' }));
        },
      }),
    };
  }

  function wrapTx(tx: Transaction): Transaction {
    // A plain copy, not Object.create(tx): an object made a prototype is slow to make, and there is one per transaction.
    return {
      ...tx,
      ...wrap(tx, (fn) => tx.afterCommit(fn)),
      withTransaction: <T>(work: (inner: Transaction) => Promise<T>) => tx.withTransaction((inner) => work(wrapTx(inner))),
    };
  }

  return Object.assign(Object.create(store) as Store, wrap(store, (fn) => fn()), {
    withTransaction: <T>(work: (tx: Transaction) => Promise<T>) => store.withTransaction((tx) => work(wrapTx(tx))),
    close: () => store.close(),
  });
}

/**
 * The repository with some methods replaced: the rest are found on its bound copy (the prototype),
 * so a transaction's wrapper costs the replaced methods only, not a copy of every method.
 */
function extend<T extends object>(repo: T, replaced: Partial<T>): T {
  return Object.assign(Object.create(bindAll(repo)) as T, replaced);
}

const bound = new WeakMap<object, object>();

/**
 * A repository's methods bound to it, so the spread copy keeps working whatever the implementation's
 * `this`. Kept per repository object: a transaction's repositories are usually the same objects every
 * time, and binding them anew for each of thousands of transactions a second shows in a profile.
 */
function bindAll<T extends object>(repo: T): T {
  const known = bound.get(repo);
  if (known) return known as T;
  const out: Record<string, unknown> = {};
  let proto: object | null = repo;
  while (proto && proto !== Object.prototype) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const v = (repo as Record<string, unknown>)[name];
      if (name !== 'constructor' && typeof v === 'function' && !(name in out)) out[name] = (v as (...a: unknown[]) => unknown).bind(repo);
    }
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  bound.set(repo, out);
  return out as T;
}
