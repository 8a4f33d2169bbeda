// The merchants' traffic during a run: `concurrency` workers, each a seeded sequence of actions
// (payments that need the call, with each kind of phone; call-less ones; payments left for the
// consumer; refunds, some of them racing; cancels), until the daemon dies under them. Requests that
// lost their answer in the previous run are sent again first, verbatim.
import { request, type Answer } from './client.js';
import { CALL_AMOUNT, SMALL_AMOUNT, type Role } from './cast.js';
import { TERMINAL, type Journal, type PaymentBody, type RefundBody, type Sent } from './journal.js';
import type { Rng } from './rng.js';
import type { World } from './setup.js';
import { sleep, within } from './util.js';

type Action = Role | 'waiting' | 'refund' | 'cancel';

/**
 * Two kinds of workers, alternating: callers wait (polling) for each call's result, as a shop's
 * server would, so they keep about one call each in progress; the counter's requests are short
 * (call-less payments, refunds), so a kill often lands on one in flight.
 */
const CALLER: Readonly<Partial<Record<Action, number>>> = { pin: 60, wrong: 12, busy: 6, silent: 4, waiting: 12, cancel: 6 };
const COUNTER: Readonly<Partial<Record<Action, number>>> = { small: 40, tight: 15, credit: 10, refund: 35 };
/** How long a merchant polls one payment in its call (a no-answer payment takes ~11 s). */
const POLL_FOR_MS = 45_000;

export interface LoadContext {
  base: string;
  world: World;
  journal: Journal;
  run: number;
  rng: Rng;
  concurrency: number;
  keyPrefix: string;
  /** Longest pause between two actions of a worker (uniform from 0). Default 300 ms for callers, 100 ms for the counter. */
  pauseMs?: { caller: number; counter: number };
}

export interface Load {
  /** Stops every worker (bounded) once the daemon is gone. */
  stop(): Promise<void>;
}

export function startLoad(ctx: LoadContext): Load {
  const abort = new AbortController();
  const tasks = [resend(ctx, abort.signal), ...Array.from({ length: ctx.concurrency }, (_, w) => worker(ctx, w, abort.signal))];
  return {
    async stop() {
      abort.abort();
      await within(Promise.allSettled(tasks), 15_000, 'late');
    },
  };
}

/** The outcome of one answer for the worker: go on, or stop (the daemon is gone). */
type Next = 'go' | 'gone';

function lostOrGo(a: Answer): Next {
  return a.kind === 'lost' ? 'gone' : 'go';
}

async function worker(ctx: LoadContext, w: number, signal: AbortSignal): Promise<void> {
  const rng = ctx.rng.fork(`worker ${w}`);
  const caller = w % 2 === 0;
  const weights = (caller ? CALLER : COUNTER) as Record<Action, number>;
  let n = 0;
  const key = () => `${ctx.keyPrefix}-r${ctx.run}-w${w}-${++n}`;
  while (!signal.aborted) {
    const action = rng.weighted(weights);
    const next = await act(ctx, rng, action, key, signal);
    if (next === 'gone') return;
    await sleep(rng.int(0, caller ? (ctx.pauseMs?.caller ?? 300) : (ctx.pauseMs?.counter ?? 100)), signal);
  }
}

async function act(ctx: LoadContext, rng: Rng, action: Action, key: () => string, signal: AbortSignal): Promise<Next> {
  const { journal, world } = ctx;
  const merchant = rng.int(0, world.merchants.length - 1);
  if (action === 'refund') {
    const candidates = [...journal.refundable.entries()];
    if (candidates.length > 0) return refund(ctx, rng, rng.pick(candidates), key, signal);
    action = 'small';
  }
  if (action === 'cancel') {
    const waiting = [...journal.waiting.entries()];
    if (waiting.length > 0) return cancel(ctx, rng.pick(waiting), signal);
    action = 'waiting';
  }
  const called = action === 'pin' || action === 'wrong' || action === 'busy' || action === 'silent';
  const amount = called ? rng.int(CALL_AMOUNT.min, CALL_AMOUNT.max) : rng.int(SMALL_AMOUNT.min, SMALL_AMOUNT.max);
  const login = action === 'waiting' ? undefined : rng.pick(world.consumers.filter((c) => c.role === action)).login;
  const k = key();
  const sent: Sent<PaymentBody> = {
    key: k, merchant, path: '/v1/payments',
    body: { amount, reference: k, description: 'Soak order', return_url: 'https://shop.example/soak', ...(login ? { login_account: login } : {}) },
  };
  const a = await post(ctx, sent, signal);
  settlePayment(ctx, sent, a, false);
  if (a.kind === 'ok' && a.body.status === 'calling') return poll(ctx, a.body.id as string, merchant, signal);
  return lostOrGo(a);
}

function post<B>(ctx: LoadContext, sent: Sent<B>, signal: AbortSignal): Promise<Answer> {
  return request(ctx.base, sent.path, { method: 'POST', apiKey: ctx.world.merchants[sent.merchant]!.apiKey, idempotencyKey: sent.key, body: sent.body, signal });
}

/** Records a payment POST's answer; `retry` marks the second sending of a lost one. */
function settlePayment(ctx: LoadContext, sent: Sent<PaymentBody>, a: Answer, retry: boolean): void {
  const { journal } = ctx;
  if (a.kind === 'ok') {
    journal.ackPayment(sent, a.body, ctx.run);
    if (retry) a.replayed ? journal.counters.lostRetriedCommitted++ : journal.counters.lostRetriedNotCommitted++;
  } else if (a.kind === 'refused') {
    journal.counters.refused++;
  } else if (a.kind === 'unexpected') {
    journal.unexpectedAnswer(`POST ${sent.path} (key ${sent.key}): ${a.status} ${a.text}`);
  } else if (a.sent) {
    journal.counters.lost++;
    journal.lostPayments.push(sent);
  } else if (retry) {
    journal.lostPayments.push(sent); // still in doubt: try again after the next restart
  }
}

function settleRefund(ctx: LoadContext, sent: Sent<RefundBody>, a: Answer, retry: boolean): void {
  const { journal } = ctx;
  if (a.kind === 'ok') {
    journal.ackRefund(sent, a.body, ctx.run);
    if (retry) a.replayed ? journal.counters.lostRetriedCommitted++ : journal.counters.lostRetriedNotCommitted++;
  } else if (a.kind === 'refused') {
    journal.counters.refused++;
    if (retry) a.replayed ? journal.counters.lostRetriedCommitted++ : journal.counters.lostRetriedNotCommitted++;
  } else if (a.kind === 'unexpected') {
    journal.unexpectedAnswer(`POST ${sent.path} (key ${sent.key}): ${a.status} ${a.text}`);
  } else if (a.sent) {
    journal.counters.lost++;
    journal.lostRefunds.push(sent);
  } else if (retry) {
    journal.lostRefunds.push(sent);
  }
}

/** The merchant waits for the call's result, as a shop's server would (CIBA-style polling). */
async function poll(ctx: LoadContext, id: string, merchant: number, signal: AbortSignal): Promise<Next> {
  const deadline = Date.now() + POLL_FOR_MS;
  while (!signal.aborted && Date.now() < deadline) {
    await sleep(250, signal);
    const a = await request(ctx.base, `/v1/payments/${id}`, { method: 'GET', apiKey: ctx.world.merchants[merchant]!.apiKey, signal });
    if (a.kind === 'lost') return 'gone';
    if (a.kind !== 'ok') {
      ctx.journal.unexpectedAnswer(`GET /v1/payments/${id}: ${a.kind === 'unexpected' ? `${a.status} ${a.text}` : a.code}`);
      return 'go';
    }
    ctx.journal.observe(id, a.body.status, merchant, a.body.amount, a.body.amount_refunded);
    if ((TERMINAL as readonly string[]).includes(a.body.status)) return 'go';
  }
  return 'go';
}

/** One refund, or a burst of two racing on the same payment; some ask for more than is left. */
async function refund(ctx: LoadContext, rng: Rng, [id, { merchant, left }]: [string, { merchant: number; left: number }], key: () => string, signal: AbortSignal): Promise<Next> {
  const burst = rng.chance(0.25) ? 2 : 1;
  const sends = Array.from({ length: burst }, (): Sent<RefundBody> => {
    const k = key();
    const r = rng.next();
    const amount = r < 0.35 ? undefined : r < 0.85 ? rng.int(1, Math.max(1, left)) : left + rng.int(1, 1000);
    return { key: k, merchant, path: `/v1/payments/${id}/refunds`, body: { ...(amount === undefined ? {} : { amount }), reason: k } };
  });
  const answers = await Promise.all(sends.map((s) => post(ctx, s, signal)));
  answers.forEach((a, i) => settleRefund(ctx, sends[i]!, a, false));
  return answers.some((a) => a.kind === 'lost') ? 'gone' : 'go';
}

async function cancel(ctx: LoadContext, [id, merchant]: [string, number], signal: AbortSignal): Promise<Next> {
  const a = await request(ctx.base, `/v1/payments/${id}/cancel`, { method: 'POST', apiKey: ctx.world.merchants[merchant]!.apiKey, body: {}, signal });
  if (a.kind === 'ok') ctx.journal.ackCancel(id, merchant);
  else if (a.kind === 'refused') {
    ctx.journal.counters.refused++;
    ctx.journal.waiting.delete(id); // it moved on (expired): no longer cancelable
  } else if (a.kind === 'unexpected') ctx.journal.unexpectedAnswer(`POST /v1/payments/${id}/cancel: ${a.status} ${a.text}`);
  else if (a.sent) ctx.journal.counters.lost++;
  return lostOrGo(a);
}

/** Requests that got no answer before the last kill, sent again with the same key and body. */
async function resend(ctx: LoadContext, signal: AbortSignal): Promise<void> {
  const { journal } = ctx;
  const payments = journal.lostPayments.splice(0);
  const refunds = journal.lostRefunds.splice(0);
  await Promise.all([
    ...payments.map(async (sent) => settlePayment(ctx, sent, await post(ctx, sent, signal), true)),
    ...refunds.map(async (sent) => settleRefund(ctx, sent, await post(ctx, sent, signal), true)),
  ]);
}
