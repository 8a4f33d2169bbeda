// Each payment against its ledger entries, refunds, history and events: charged at most once and
// only after a verified PIN when it needed the call; no hold left open once it is over; refunds
// never above the charge; its status is where its recorded transitions lead; one payment per
// Idempotency-Key (the soak uses the key as the order reference, and as a refund's reason).
import type { Findings } from './findings.js';
import type { Snapshot, TransferRow } from './snapshot.js';
import { CHARGED } from './journal.js';
import type { Role } from './cast.js';

const ENDED = ['declined', 'failed', 'expired', 'canceled'];
const END_EVENTS = new Set(['payment.declined', 'payment.failed', 'payment.expired', 'payment.canceled']);
/** Roles whose phone never keys the right PIN: none of their called payments may be charged. */
const NEVER_APPROVES: readonly Role[] = ['wrong', 'busy', 'silent'];

interface PerPayment {
  holds: TransferRow[];
  posts: TransferRow[];
  voids: TransferRow[];
  refundTransfers: TransferRow[];
  refunds: Array<{ id: string; amount: number }>;
  succeededEvents: number;
  refundEvents: number;
  endEvents: number;
  transitions: Array<{ from: string | null; to: string }>;
}

export function checkPayments(s: Snapshot, f: Findings, roleOfAccount: ReadonlyMap<string, Role>): void {
  const per = new Map<string, PerPayment>();
  const of = (id: string) => {
    let p = per.get(id);
    if (!p) per.set(id, (p = { holds: [], posts: [], voids: [], refundTransfers: [], refunds: [], succeededEvents: 0, refundEvents: 0, endEvents: 0, transitions: [] }));
    return p;
  };
  for (const t of s.transfers) {
    if (!t.payment_id) continue;
    const p = of(t.payment_id);
    if (t.kind === 'hold') p.holds.push(t);
    else if (t.kind === 'post') p.posts.push(t);
    else if (t.kind === 'void') p.voids.push(t);
    else if (t.kind === 'refund') p.refundTransfers.push(t);
  }
  for (const r of s.refunds) of(r.payment_id).refunds.push(r);
  for (const e of s.events) {
    if (!e.payment_id) continue;
    const p = of(e.payment_id);
    if (e.type === 'payment.succeeded') p.succeededEvents++;
    else if (e.type === 'refund.succeeded') p.refundEvents++;
    else if (END_EVENTS.has(e.type)) p.endEvents++;
  }
  for (const t of s.transitions) of(t.payment_id).transitions.push({ from: t.from_status, to: t.to_status });

  const paymentIds = new Set(s.payments.map((p) => p.id));
  for (const id of per.keys()) f.expect(paymentIds.has(id), 'ledger entries, refunds and events belong to a payment', () => id);

  for (const p of s.payments) {
    const x = of(p.id);
    const charged = (CHARGED as readonly string[]).includes(p.status);
    const open = x.holds.filter((h) => !x.posts.some((r) => r.pending_id === h.id) && !x.voids.some((r) => r.pending_id === h.id));
    const tag = `${p.id} (${p.status}, ${p.amount})`;

    f.expect(x.holds.length <= 1, 'at most one hold per payment', () => `${tag}: ${x.holds.length} holds`);
    f.expect(x.posts.length <= 1, 'no payment charged twice', () => `${tag}: ${x.posts.length} posts`);
    f.expect(x.posts.length + x.voids.length <= x.holds.length, 'a hold is either posted or voided', () => `${tag}: ${x.posts.length} posts, ${x.voids.length} voids`);
    f.expect([...x.holds, ...x.posts].every((t) => t.amount === p.amount), 'hold and charge = the payment amount', () => `${tag}: ${[...x.holds, ...x.posts].map((t) => `${t.kind} ${t.amount}`).join(', ')}`);
    f.expect(charged === (x.posts.length === 1), 'charged status ⇔ one posted charge', () => `${tag}: ${x.posts.length} posts`);
    if (charged || ENDED.includes(p.status)) {
      f.expect(open.length === 0, 'no open hold on a terminal payment', () => `${tag}: hold ${open[0]?.id} still pending`);
    }
    if (p.status === 'calling') f.expect(x.holds.length === 1 && open.length === 1, 'a payment in its call has one open hold', () => `${tag}: ${x.holds.length} holds, ${open.length} open`);
    if (p.status === 'requires_consumer' || p.status === 'requires_password') f.expect(x.holds.length === 0, 'no hold before the consumer is known', () => tag);

    const needsCall = p.decision !== null && (JSON.parse(p.decision) as { steps?: string[] }).steps?.includes('call') === true;
    if (x.posts.length > 0 && needsCall) {
      f.expect(p.authorized_at !== null, 'no call-authorized charge without a verified PIN', () => tag);
      const role = p.billable_account_id ? roleOfAccount.get(p.billable_account_id) : undefined;
      f.expect(!role || !NEVER_APPROVES.includes(role), 'no charge for a phone that never keys the right PIN', () => `${tag}: consumer role ${role}`);
    }

    const refundRows = x.refunds.reduce((n, r) => n + r.amount, 0);
    const refundLedger = x.refundTransfers.reduce((n, t) => n + t.amount, 0);
    f.expect(refundRows === p.amount_refunded && refundLedger === p.amount_refunded, 'amount refunded = refunds = refund entries', () =>
      `${tag}: amount_refunded ${p.amount_refunded}, refunds ${refundRows}, ledger ${refundLedger}`);
    f.expect(p.amount_refunded <= p.amount, 'refunds never exceed the charge', () => `${tag}: refunded ${p.amount_refunded}`);
    f.expect(x.refunds.length === 0 || charged, 'refunds only of charged payments', () => `${tag}: ${x.refunds.length} refunds`);
    for (const r of x.refunds) {
      const entries = x.refundTransfers.filter((t) => t.refund_id === r.id);
      f.expect(entries.length === 1 && entries[0]!.amount === r.amount, 'each refund has one ledger entry of its amount', () => `${tag}: refund ${r.id} has ${entries.length} entries`);
      const hold = x.holds[0];
      f.expect(!hold || entries.every((t) => t.debit_account_id === hold.credit_account_id && t.credit_account_id === hold.debit_account_id), 'a refund reverses its own charge', () => `${tag}: refund ${r.id}`);
    }
    if (charged) {
      const want = p.amount_refunded === 0 ? 'succeeded' : p.amount_refunded === p.amount ? 'refunded' : 'partially_refunded';
      f.expect(p.status === want, 'refund status matches the amount refunded', () => `${tag}: refunded ${p.amount_refunded}, expected ${want}`);
    }

    f.expect(x.succeededEvents === (x.posts.length > 0 ? 1 : 0), 'one payment.succeeded event per charge', () => `${tag}: ${x.succeededEvents} events`);
    f.expect(x.refundEvents === x.refunds.length, 'one refund.succeeded event per refund', () => `${tag}: ${x.refundEvents} events, ${x.refunds.length} refunds`);
    f.expect(x.endEvents === (ENDED.includes(p.status) ? 1 : 0), 'one end event per unsuccessful payment', () => `${tag}: ${x.endEvents} end events`);

    const chain = x.transitions;
    const linked = chain.length > 0 && chain[0]!.from === null && chain.every((t, i) => i === 0 || t.from === chain[i - 1]!.to);
    f.expect(linked && chain.at(-1)?.to === p.status, 'status = where its recorded transitions lead', () =>
      `${tag}: ${chain.map((t) => `${t.from}→${t.to}`).join(' ')}`);
  }

  const count = <T>(items: T[], key: (t: T) => string | null) => {
    const m = new Map<string, number>();
    for (const i of items) {
      const k = key(i);
      if (k !== null) m.set(k, (m.get(k) ?? 0) + 1);
    }
    return m;
  };
  for (const [ref, n] of count(s.payments, (p) => `${p.merchant_id} ${p.reference}`)) {
    f.expect(n === 1, 'one payment per Idempotency-Key', () => `${ref}: ${n} payments`);
  }
  for (const [reason, n] of count(s.refunds, (r) => r.reason)) {
    f.expect(n === 1, 'one refund per Idempotency-Key', () => `${reason}: ${n} refunds`);
  }
}
