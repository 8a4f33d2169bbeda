import type { Db } from './db.js';
import { CallpayError } from '../domain/errors.js';
import { assertTransition, leavesCallBackwards, type PaymentStatus } from '../domain/payment.js';
import type { FrictionlessUsage } from '../domain/policy.js';
import type { Clock } from '../domain/clock.js';
import type { NewPayment, Payment, Transition, TransitionPatch } from '../domain/payment.js';
import { paymentOf, type PaymentRow } from './rows.js';

/**
 * Payments in a call, in words SQLite's planner matches to the partial index payments_open: it uses a
 * partial index only when the query repeats the index's own condition (status = 'calling' alone scans).
 */
const OPEN_CALLING = "status IN ('requires_consumer', 'requires_password', 'calling') AND status = 'calling'";

/**
 * Payments and their recorded transitions. Each method is one short synchronous transaction (or a
 * savepoint inside the caller's): state checks and writes can never interleave with another's.
 */
export class PaymentRepository {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  insert(p: NewPayment, status: PaymentStatus, reason: string): Payment {
    const now = this.clock().toISOString();
    const metadata = JSON.stringify(p.metadata);
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO payments (id, merchant_id, amount, currency, reference, description, return_url, metadata, status, live,
             expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(p.id, p.merchantId, p.amount, p.currency, p.reference, p.description, p.returnUrl, metadata, status, p.live ? 1 : 0, p.expiresAt, now, now);
      this.record(p.id, null, status, reason, now);
    })();
    // What get() would read back, without reading it (the hot path of every create).
    return {
      id: p.id, merchantId: p.merchantId, amount: p.amount, currency: p.currency, reference: p.reference, description: p.description,
      returnUrl: p.returnUrl, metadata: JSON.parse(metadata) as Record<string, string>, consumerId: null, billableAccountId: null, status,
      decision: null, failureCode: null, live: p.live, amountRefunded: 0, authorizedAt: null, expiresAt: p.expiresAt, createdAt: now, updatedAt: now,
    };
  }

  get(id: string): Payment {
    const found = this.find(id);
    if (!found) throw new CallpayError('not_found', `payment: no payment ${id}`, 'payment');
    return found;
  }

  find(id: string): Payment | undefined {
    const row = this.db.prepare('SELECT * FROM payments WHERE id = ?').get(id) as PaymentRow | undefined;
    return row && paymentOf(row);
  }

  /** Another merchant's payment is indistinguishable from a missing one. */
  getForMerchant(merchantId: string, id: string): Payment {
    const p = this.find(id);
    if (!p || p.merchantId !== merchantId) throw new CallpayError('not_found', `payment: no payment ${id}`, 'id');
    return p;
  }

  /** Newest first; `before` is the last id of the previous page. */
  list(merchantId: string, opts: { reference?: string; status?: PaymentStatus; before?: string; limit: number }): Payment[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM payments WHERE merchant_id = @merchantId AND (@reference IS NULL OR reference = @reference)
           AND (@status IS NULL OR status = @status) AND (@before IS NULL OR id < @before)
         ORDER BY id DESC LIMIT @limit`,
      )
      .all({ merchantId, reference: opts.reference ?? null, status: opts.status ?? null, before: opts.before ?? null, limit: opts.limit }) as PaymentRow[];
    return rows.map(paymentOf);
  }

  recentForConsumer(consumerId: string, limit: number): Payment[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM payments WHERE consumer_id = ? AND status IN ('succeeded', 'refunded', 'partially_refunded')
         ORDER BY created_at DESC, id DESC LIMIT ?`,
      )
      .all(consumerId, limit) as PaymentRow[];
    return rows.map(paymentOf);
  }

  /**
   * Moves a payment to `to` if the state machine allows it from where it is now. `expectFrom`
   * guards races: the move happens only from one of those statuses.
   */
  transition(id: string, to: PaymentStatus, reason: string, patch: TransitionPatch = {}, expectFrom?: readonly PaymentStatus[]): Payment {
    const now = this.clock().toISOString();
    this.db.transaction(() => {
      const current = this.get(id);
      if (expectFrom && !expectFrom.includes(current.status)) {
        throw new CallpayError('invalid_state', `payment: ${id} is ${current.status}`, 'status');
      }
      assertTransition(id, current.status, to);
      const sets = ['status = @to', 'updated_at = @now'];
      if (patch.consumerId !== undefined) sets.push('consumer_id = @consumerId');
      if (patch.billableAccountId !== undefined) sets.push('billable_account_id = @billableAccountId');
      if (patch.decision !== undefined) sets.push('decision = @decision');
      if (patch.failureCode !== undefined) sets.push('failure_code = @failureCode');
      if (patch.live !== undefined) sets.push('live = @live');
      if (patch.amountRefunded !== undefined) sets.push('amount_refunded = @amountRefunded');
      // Back from the call step to an earlier one (the pre-dial risk check asking for the password):
      // the call lease goes with it, so whichever node takes the next call step may place the call.
      if (leavesCallBackwards(current.status, to)) sets.push('call_node = NULL', 'call_lease_until = NULL');
      this.db.prepare(`UPDATE payments SET ${sets.join(', ')} WHERE id = @id`).run({
        id,
        to,
        now,
        consumerId: patch.consumerId ?? null,
        billableAccountId: patch.billableAccountId ?? null,
        decision: patch.decision ? JSON.stringify(patch.decision) : null,
        failureCode: patch.failureCode ?? null,
        live: patch.live === undefined ? null : patch.live ? 1 : 0,
        amountRefunded: patch.amountRefunded ?? null,
      });
      this.record(id, current.status, to, reason, now);
    })();
    return this.get(id);
  }

  /** The PIN was verified: recorded durably before the charge, so a crash in between can finish it. */
  markAuthorized(id: string, reason: string): Payment {
    const now = this.clock().toISOString();
    this.db.transaction(() => {
      const current = this.get(id);
      if (current.status !== 'calling') throw new CallpayError('invalid_state', `payment: ${id} is ${current.status}`, 'status');
      this.db.prepare('UPDATE payments SET authorized_at = ?, updated_at = ? WHERE id = ?').run(now, now, id);
      this.record(id, 'calling', 'calling', reason, now);
    })();
    return this.get(id);
  }

  /** Marks a payment not live (a non-telephone engine touched it). */
  markNotLive(id: string): void {
    this.db.prepare('UPDATE payments SET live = 0 WHERE id = ?').run(id);
  }

  transitions(id: string): Transition[] {
    return this.db
      .prepare(
        `SELECT from_status AS fromStatus, to_status AS toStatus, reason, created_at AS createdAt
         FROM payment_transitions WHERE payment_id = ? ORDER BY seq`,
      )
      .all(id) as Transition[];
  }

  /** Open payments whose time is up (calls get a grace period: they end on their own). */
  dueForExpiry(now: Date, callGraceMs: number): Payment[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM payments WHERE status IN ('requires_consumer', 'requires_password', 'calling')
           AND expires_at <= CASE WHEN status = 'calling' THEN @graceCutoff ELSE @now END
         ORDER BY expires_at LIMIT 100`,
      )
      .all({ now: now.toISOString(), graceCutoff: new Date(now.getTime() - callGraceMs).toISOString() }) as PaymentRow[];
    return rows.map(paymentOf);
  }

  /**
   * Takes (or keeps) a call for `node` until `untilIso`: only while the payment is in the call step
   * and nobody else holds an unexpired lease on it. Whether this node now owns the call.
   */
  leaseCall(id: string, node: string, untilIso: string, nowIso: string): boolean {
    return (
      this.db
        .prepare(
          `UPDATE payments SET call_node = @node, call_lease_until = @until WHERE id = @id AND status = 'calling'
             AND (call_node IS NULL OR call_node = @node OR call_lease_until < @now)`,
        )
        .run({ id, node, until: untilIso, now: nowIso }).changes === 1
    );
  }

  /** Extends this node's leases on the calls it still owns; returns the ids it owns. */
  renewCallLeases(node: string, ids: readonly string[], untilIso: string): string[] {
    const owned: string[] = [];
    const renew = this.db.prepare("UPDATE payments SET call_lease_until = ? WHERE id = ? AND call_node = ? AND status = 'calling'");
    for (const id of ids) if (renew.run(untilIso, id, node).changes === 1) owned.push(id);
    return owned;
  }

  /**
   * Calls whose node has stopped renewing: the lease ran out, or none was taken (the node died
   * between starting the call step and dialling) and the payment has not moved since `staleBeforeIso`.
   */
  abandonedCalls(nowIso: string, staleBeforeIso: string): Payment[] {
    return (
      this.db
        .prepare(
          `SELECT * FROM payments WHERE ${OPEN_CALLING}
             AND (call_lease_until < @now OR (call_lease_until IS NULL AND updated_at < @stale)) ORDER BY expires_at, id LIMIT 100`,
        )
        .all({ now: nowIso, stale: staleBeforeIso }) as PaymentRow[]
    ).map(paymentOf);
  }

  /** Payments in a call: at start-up none of them has a live call any more. */
  calling(): Payment[] {
    return (this.db.prepare(`SELECT * FROM payments WHERE ${OPEN_CALLING} ORDER BY expires_at, id`).all() as PaymentRow[]).map(paymentOf);
  }

  /** Authorization calls started since `since` for a consumer or a merchant (the toll-fraud caps). */
  callsStartedSince(by: { consumerId: string } | { merchantId: string }, since: Date): number {
    const column = 'consumerId' in by ? 'p.consumer_id' : 'p.merchant_id';
    return this.db
      .prepare(
        `SELECT count(*) FROM payments p JOIN payment_transitions t ON t.payment_id = p.id
         WHERE ${column} = ? AND t.to_status = 'calling' AND t.from_status IS NOT 'calling' AND t.created_at > ?`,
      )
      .pluck()
      .get('consumerId' in by ? by.consumerId : by.merchantId, since.toISOString()) as number;
  }

  /** Sum and count of call-less successes since the consumer's last success authorized by call. */
  frictionlessUsage(consumerId: string): FrictionlessUsage {
    const called = `EXISTS (SELECT 1 FROM json_each(p.decision, '$.steps') WHERE value = 'call')`;
    const row = this.db
      .prepare(
        `SELECT coalesce(sum(p.amount), 0) AS amount, count(*) AS count FROM payments p
         WHERE p.consumer_id = @consumerId AND p.status IN ('succeeded', 'partially_refunded', 'refunded') AND NOT ${called}
           AND p.id > coalesce((SELECT max(p.id) FROM payments p WHERE p.consumer_id = @consumerId
                 AND p.status IN ('succeeded', 'partially_refunded', 'refunded') AND ${called}), '')`,
      )
      .get({ consumerId }) as FrictionlessUsage;
    return row;
  }

  insertRefund(id: string, paymentId: string, amount: number, reason: string | null): void {
    this.db
      .prepare('INSERT INTO refunds (id, payment_id, amount, reason, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(id, paymentId, amount, reason, this.clock().toISOString());
  }

  refunds(paymentId: string): Array<{ id: string; amount: number; reason: string | null; createdAt: string }> {
    return this.db
      .prepare('SELECT id, amount, reason, created_at AS createdAt FROM refunds WHERE payment_id = ? ORDER BY id')
      .all(paymentId) as Array<{ id: string; amount: number; reason: string | null; createdAt: string }>;
  }

  private record(id: string, from: PaymentStatus | null, to: PaymentStatus, reason: string, at: string): void {
    this.db
      .prepare('INSERT INTO payment_transitions (payment_id, from_status, to_status, reason, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(id, from, to, reason, at);
  }
}

