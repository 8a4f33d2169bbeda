import type { PgQueryable, PgValue } from './db.js';
import { execute, inUnit, isPgTx, placeholders, queryOne, queryRows } from './db.js';
import type { PgRepoDeps } from './deps.js';
import { CallpayError } from '../../domain/errors.js';
import { assertTransition, leavesCallBackwards, type PaymentStatus } from '../../domain/payment.js';
import type { FrictionlessUsage } from '../../domain/policy.js';
import type { NewPayment, Payment, Transition, TransitionPatch } from '../../domain/payment.js';
import type { PaymentRepository } from '../../payments/repositories.js';
import { paymentOf, type PaymentRow } from '../rows.js';

type Refund = { id: string; amount: number; reason: string | null; createdAt: string };

/** Appends the transition of the payment the enclosing CTE named `moved` changed. */
const LOG_MOVE = `logged AS (INSERT INTO payment_transitions (payment_id, from_status, to_status, reason, created_at)
  SELECT id, $2::text, status, $3::text, updated_at FROM moved)`;

/**
 * Payments and their transitions, as src/store/payments.ts. A change and its transition row are
 * written by one statement (a data-modifying CTE), so they are atomic even outside a transaction.
 */
export class PgPaymentRepository implements PaymentRepository {
  constructor(private readonly q: PgQueryable, private readonly d: PgRepoDeps) {}

  async insert(p: NewPayment, status: PaymentStatus, reason: string): Promise<Payment> {
    const now = this.d.clock().toISOString();
    const row = await queryOne<PaymentRow>(
      this.q,
      `WITH moved AS (
         INSERT INTO payments (id, merchant_id, amount, currency, reference, description, return_url, metadata, status, live,
           expires_at, created_at, updated_at) VALUES ($1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING *),
       ${LOG_MOVE}
       SELECT * FROM moved`,
      [p.id, null, reason, p.merchantId, p.amount, p.currency, p.reference, p.description, p.returnUrl, JSON.stringify(p.metadata), status, p.live ? 1 : 0, p.expiresAt, now],
    );
    return paymentOf(row!);
  }

  async get(id: string): Promise<Payment> {
    const found = await this.find(id);
    if (!found) throw new CallpayError('not_found', `payment: no payment ${id}`, 'payment');
    return found;
  }

  async find(id: string): Promise<Payment | undefined> {
    const row = await queryOne<PaymentRow>(this.q, 'SELECT * FROM payments WHERE id = $1', [id]);
    return row && paymentOf(row);
  }

  /**
   * Inside a transaction (cancel, refund) the row is locked until it commits: refund computes what
   * is left and the new total from this read, so a concurrent refund (this node or another) must
   * wait here and then read the first one's committed total, as SQLite's single writer ensured.
   * On the pool (a GET) a plain read.
   */
  async getForMerchant(merchantId: string, id: string): Promise<Payment> {
    const lock = isPgTx(this.q) ? ' FOR UPDATE' : '';
    const row = await queryOne<PaymentRow>(this.q, `SELECT * FROM payments WHERE id = $1${lock}`, [id]);
    const p = row && paymentOf(row);
    if (!p || p.merchantId !== merchantId) throw new CallpayError('not_found', `payment: no payment ${id}`, 'id');
    return p;
  }

  async list(merchantId: string, opts: { reference?: string; status?: PaymentStatus; before?: string; limit: number }): Promise<Payment[]> {
    const rows = await queryRows<PaymentRow>(
      this.q,
      `SELECT * FROM payments WHERE merchant_id = $1 AND ($2::text IS NULL OR reference = $2)
         AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR id < $4)
       ORDER BY id DESC LIMIT $5`,
      [merchantId, opts.reference ?? null, opts.status ?? null, opts.before ?? null, opts.limit],
    );
    return rows.map(paymentOf);
  }

  async recentForConsumer(consumerId: string, limit: number): Promise<Payment[]> {
    const rows = await queryRows<PaymentRow>(
      this.q,
      `SELECT * FROM payments WHERE consumer_id = $1 AND status IN ('succeeded', 'refunded', 'partially_refunded')
       ORDER BY created_at DESC, id DESC LIMIT $2`,
      [consumerId, limit],
    );
    return rows.map(paymentOf);
  }

  /**
   * Read-then-write under a row lock: SELECT … FOR UPDATE makes a second mover (another node) wait,
   * and READ COMMITTED then hands it the status the first one committed, so `expectFrom` and the
   * state machine judge the true current status and two nodes can never both move one payment. The
   * UPDATE also names the status it read, so the guard holds even if a caller's isolation differs.
   */
  async transition(id: string, to: PaymentStatus, reason: string, patch: TransitionPatch = {}, expectFrom?: readonly PaymentStatus[]): Promise<Payment> {
    return inUnit(this.q, async (db) => {
      const locked = await queryOne<{ status: PaymentStatus }>(db, 'SELECT status FROM payments WHERE id = $1 FOR UPDATE', [id]);
      if (!locked) throw new CallpayError('not_found', `payment: no payment ${id}`, 'payment');
      const from = locked.status;
      if (expectFrom && !expectFrom.includes(from)) throw new CallpayError('invalid_state', `payment: ${id} is ${from}`, 'status');
      assertTransition(id, from, to);
      // $1 id, $2 from, $3 reason (LOG_MOVE), $4 to, $5 now; the patch's columns follow.
      const values: PgValue[] = [id, from, reason, to, this.d.clock().toISOString()];
      const sets = ['status = $4', 'updated_at = $5'];
      const set = (column: string, value: PgValue) => {
        values.push(value);
        sets.push(`${column} = $${values.length}`);
      };
      if (patch.consumerId !== undefined) set('consumer_id', patch.consumerId);
      if (patch.billableAccountId !== undefined) set('billable_account_id', patch.billableAccountId);
      if (patch.decision !== undefined) set('decision', patch.decision ? JSON.stringify(patch.decision) : null);
      if (patch.failureCode !== undefined) set('failure_code', patch.failureCode);
      if (patch.live !== undefined) set('live', patch.live ? 1 : 0);
      if (patch.amountRefunded !== undefined) set('amount_refunded', patch.amountRefunded);
      // Back from the call step to an earlier one: the call lease goes with it (see the SQLite store).
      if (leavesCallBackwards(from, to)) sets.push('call_node = NULL', 'call_lease_until = NULL');
      const row = await queryOne<PaymentRow>(
        db,
        `WITH moved AS (UPDATE payments SET ${sets.join(', ')} WHERE id = $1 AND status = $2 RETURNING *), ${LOG_MOVE}
         SELECT * FROM moved`,
        values,
      );
      if (!row) throw new CallpayError('invalid_state', `payment: ${id} changed while being moved`, 'status');
      return paymentOf(row);
    });
  }

  /**
   * A conditional UPDATE (only while 'calling') is the whole check, so no lock is needed: of two
   * nodes racing, the second finds the row changed by the first and matches it only if still calling.
   */
  async markAuthorized(id: string, reason: string): Promise<Payment> {
    const now = this.d.clock().toISOString();
    const row = await queryOne<PaymentRow>(
      this.q,
      `WITH moved AS (UPDATE payments SET authorized_at = $4, updated_at = $4 WHERE id = $1 AND status = $2 RETURNING *), ${LOG_MOVE}
       SELECT * FROM moved`,
      [id, 'calling', reason, now],
    );
    if (row) return paymentOf(row);
    const current = await this.get(id);
    throw new CallpayError('invalid_state', `payment: ${id} is ${current.status}`, 'status');
  }

  async markNotLive(id: string): Promise<void> {
    await execute(this.q, 'UPDATE payments SET live = 0 WHERE id = $1', [id]);
  }

  async transitions(id: string): Promise<Transition[]> {
    return queryRows<Transition & Record<string, unknown>>(
      this.q,
      `SELECT from_status AS "fromStatus", to_status AS "toStatus", reason, created_at AS "createdAt"
       FROM payment_transitions WHERE payment_id = $1 ORDER BY seq`,
      [id],
    );
  }

  async dueForExpiry(now: Date, callGraceMs: number): Promise<Payment[]> {
    const rows = await queryRows<PaymentRow>(
      this.q,
      `SELECT * FROM payments WHERE status IN ('requires_consumer', 'requires_password', 'calling')
         AND expires_at <= CASE WHEN status = 'calling' THEN $2 ELSE $1 END
       ORDER BY expires_at LIMIT 100`,
      [now.toISOString(), new Date(now.getTime() - callGraceMs).toISOString()],
    );
    return rows.map(paymentOf);
  }

  async calling(): Promise<Payment[]> {
    return (await queryRows<PaymentRow>(this.q, "SELECT * FROM payments WHERE status = 'calling' ORDER BY id")).map(paymentOf);
  }

  /**
   * One conditional UPDATE is the whole check: of two nodes taking one call, the second waits for the
   * first's row lock, then re-checks the condition against the lease the first committed (READ
   * COMMITTED) and takes nothing while that lease lasts.
   */
  async leaseCall(id: string, node: string, untilIso: string, nowIso: string): Promise<boolean> {
    const changed = await execute(
      this.q,
      `UPDATE payments SET call_node = $2, call_lease_until = $3 WHERE id = $1 AND status = 'calling'
         AND (call_node IS NULL OR call_node = $2 OR call_lease_until < $4)`,
      [id, node, untilIso, nowIso],
    );
    return changed === 1;
  }

  /** One conditional UPDATE for all of them: a lease another node took over is not renewed. */
  async renewCallLeases(node: string, ids: readonly string[], untilIso: string): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await queryRows<{ id: string }>(
      this.q,
      `UPDATE payments SET call_lease_until = $1 WHERE id IN (${placeholders(3, ids.length)}) AND call_node = $2 AND status = 'calling' RETURNING id`,
      [untilIso, node, ...ids],
    );
    const owned = new Set(rows.map((r) => r.id));
    return ids.filter((id) => owned.has(id));
  }

  /** A read only: whoever acts on one takes it with `leaseCall` or a guarded `transition` first. */
  async abandonedCalls(nowIso: string, staleBeforeIso: string): Promise<Payment[]> {
    const rows = await queryRows<PaymentRow>(
      this.q,
      `SELECT * FROM payments WHERE status = 'calling'
         AND (call_lease_until < $1 OR (call_lease_until IS NULL AND updated_at < $2)) ORDER BY id LIMIT 100`,
      [nowIso, staleBeforeIso],
    );
    return rows.map(paymentOf);
  }

  async callsStartedSince(by: { consumerId: string } | { merchantId: string }, since: Date): Promise<number> {
    const column = 'consumerId' in by ? 'p.consumer_id' : 'p.merchant_id';
    const row = await queryOne<{ n: number }>(
      this.q,
      `SELECT count(*) AS n FROM payments p JOIN payment_transitions t ON t.payment_id = p.id
       WHERE ${column} = $1 AND t.to_status = 'calling' AND t.from_status IS DISTINCT FROM 'calling' AND t.created_at > $2`,
      ['consumerId' in by ? by.consumerId : by.merchantId, since.toISOString()],
    );
    return row!.n;
  }

  async frictionlessUsage(consumerId: string): Promise<FrictionlessUsage> {
    // decision is JSON text, as in SQLite; a refused decision has no steps and yields no elements.
    const called = `EXISTS (SELECT 1 FROM jsonb_array_elements_text(p.decision::jsonb -> 'steps') AS s(step) WHERE s.step = 'call')`;
    const row = await queryOne<FrictionlessUsage>(
      this.q,
      // sum(bigint) is numeric, which pg hands over as text: cast back to BIGINT.
      `SELECT coalesce(sum(p.amount), 0)::bigint AS amount, count(*) AS count FROM payments p
       WHERE p.consumer_id = $1 AND p.status IN ('succeeded', 'partially_refunded', 'refunded') AND NOT ${called}
         AND p.id > coalesce((SELECT max(p.id) FROM payments p WHERE p.consumer_id = $1
               AND p.status IN ('succeeded', 'partially_refunded', 'refunded') AND ${called}), '')`,
      [consumerId],
    );
    return row!;
  }

  async insertRefund(id: string, paymentId: string, amount: number, reason: string | null): Promise<void> {
    await execute(this.q, 'INSERT INTO refunds (id, payment_id, amount, reason, created_at) VALUES ($1, $2, $3, $4, $5)', [
      id, paymentId, amount, reason, this.d.clock().toISOString(),
    ]);
  }

  async refunds(paymentId: string): Promise<Refund[]> {
    return queryRows<Refund>(this.q, 'SELECT id, amount, reason, created_at AS "createdAt" FROM refunds WHERE payment_id = $1 ORDER BY id', [paymentId]);
  }
}

