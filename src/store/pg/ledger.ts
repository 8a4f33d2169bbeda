import type { PgQueryable, PgValue } from './db.js';
import { execute, inUnit, queryOne, sqlState } from './db.js';
import type { PgRepoDeps } from './deps.js';
import { CallpayError } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import type { HoldRequest, HoldResult } from '../../domain/ledger.js';
import type { LedgerRepository } from '../../payments/repositories.js';

interface HoldRow {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: number;
  currency: string;
  resolution: 'post' | 'void' | null;
  resolution_id: string | null;
}

/** What `available` is computed from: one ledger row, its account's plan, and (postpaid) the cycle's usage. */
export interface AvailableInputs {
  plan: string;
  credit_limit: number | null;
  credits_posted: number;
  debits_posted: number;
  debits_pending: number;
  cycle_usage: number;
}

/** Prepaid: balance not spent or held. Postpaid: credit left in the current cycle. */
export function availableOf(a: AvailableInputs): number {
  if (a.plan === 'prepaid') return a.credits_posted - a.debits_posted - a.debits_pending;
  return (a.credit_limit ?? 0) - a.cycle_usage - a.debits_pending;
}

/**
 * Postpaid usage of the ledger account `ledgerId` (an SQL expression) in cycle `cycleParam`: charges
 * posted in the cycle, less refunds made in it; pending holds are apart. sum() of BIGINT is NUMERIC in
 * PostgreSQL: cast back so it arrives as a number. Prepaid accounts skip the scan.
 */
export function cycleUsageSql(ledgerId: string, cycleParam: string): string {
  return `CASE WHEN b.plan = 'postpaid' THEN (
    SELECT coalesce(sum(CASE WHEN t.kind = 'post' THEN t.amount ELSE -t.amount END), 0)::bigint FROM transfers t
    WHERE t.cycle = ${cycleParam} AND ((t.kind = 'post' AND t.debit_account_id = ${ledgerId}) OR (t.kind = 'refund' AND t.credit_account_id = ${ledgerId}))
  ) ELSE 0 END`;
}

interface NewTransfer {
  kind: 'topup' | 'hold' | 'post' | 'void' | 'refund';
  debit: string;
  credit: string;
  amount: number;
  currency: string;
  pendingId?: string;
  paymentId?: string;
  refundId?: string;
  memo?: string | null;
}

type Sums = Partial<Record<'debits_pending' | 'debits_posted' | 'credits_pending' | 'credits_posted', number>>;

/**
 * The double-entry, append-only ledger on PostgreSQL (mirrors src/store/ledger.ts).
 *
 * Concurrency: SQLite serialises every writer; here several nodes write at once, so each method that
 * reads then writes first locks the consumer's ledger row (`SELECT … FOR NO KEY UPDATE`). Every hold,
 * post, void, refund and top-up of one consumer account takes that lock first, so they run one at a
 * time per account, cluster-wide, and under READ COMMITTED each statement after the lock sees
 * everything the previous holder committed: the balance check cannot miss a concurrent hold, and a
 * repeated post finds the first one. Other accounts (the merchant's, the carrier's top-ups) are only
 * ever locked after a consumer row, so there is no lock cycle. Measured against SERIALIZABLE + retry
 * in bench/pg-holds.ts. The unique indexes (one hold per payment, one resolution per hold, one
 * transfer per refund) stay the last line.
 */
export class PgLedger implements LedgerRepository {
  constructor(
    private readonly q: PgQueryable,
    private readonly d: PgRepoDeps,
  ) {}

  async currentCycle(): Promise<string> {
    return this.cycle();
  }

  /** Called when a billable account is created, inside the same transaction (a PgLedger built on it). */
  async openConsumerAccount(billableAccountId: string, currency: string): Promise<void> {
    await execute(this.q, "INSERT INTO ledger_accounts (id, code, billable_account_id, currency) VALUES ($1, 'consumer', $2, $3)", [
      newId('led'),
      billableAccountId,
      currency,
    ]);
  }

  /** Row lock on the consumer's account: a concurrent hold waits, then sees the top-up. */
  async topup(billableAccountId: string, amount: number, memo: string | null): Promise<string> {
    return inUnit(this.q, async (db) => {
      const consumer = await this.lockConsumer(db, billableAccountId);
      const source = await this.namedAccount(db, 'carrier_topups', null, consumer.currency);
      return this.insertPosted(db, 'topup', source, consumer.id, amount, consumer.currency, { memo });
    });
  }

  /** One statement, so one snapshot: a read, no lock (a hold re-checks under its lock). */
  async available(billableAccountId: string): Promise<number> {
    const acct = await queryOne<AvailableInputs>(
      this.q,
      `SELECT b.plan, b.credit_limit, l.credits_posted, l.debits_posted, l.debits_pending, ${cycleUsageSql('l.id', '$2')} AS cycle_usage
       FROM ledger_accounts l JOIN billable_accounts b ON b.id = l.billable_account_id WHERE l.billable_account_id = $1`,
      [billableAccountId, this.cycle()],
    );
    if (!acct) throw new CallpayError('not_found', `account: no ledger account for ${billableAccountId}`, 'account');
    return availableOf(acct);
  }

  /**
   * Places the payment's hold, or returns why it cannot; a second call returns the first hold.
   * Row lock on the consumer account (see the class); in a savepoint inside a caller's transaction,
   * so the unique-index backstop (a hold of the same payment on another account committed first) can
   * be answered with that hold instead of aborting the caller's transaction.
   */
  async hold(req: HoldRequest): Promise<HoldResult> {
    const existing = await this.findHold(this.q, req.paymentId);
    if (existing) return { ok: true, transferId: existing.id };
    try {
      return await inUnit(this.q, (db) => this.holdLocked(db, req), { savepoint: true });
    } catch (err) {
      if (sqlState(err) !== '23505') throw err;
      const first = await this.findHold(this.q, req.paymentId);
      if (!first) throw err;
      return { ok: true, transferId: first.id };
    }
  }

  private async holdLocked(db: PgQueryable, req: HoldRequest): Promise<HoldResult> {
    const consumer = await this.lockConsumer(db, req.billableAccountId);
    // Another node may have held this payment while we waited for the lock.
    const existing = await this.findHold(db, req.paymentId);
    if (existing) return { ok: true, transferId: existing.id };
    if (consumer.currency !== req.currency) {
      throw new CallpayError('invalid_state', `account: ${req.billableAccountId} bills in ${consumer.currency}`, 'currency');
    }
    const available = availableOf(await this.sumsOf(db, consumer.id));
    if (available < req.amount) {
      return { ok: false, code: consumer.plan === 'prepaid' ? 'insufficient_funds' : 'credit_limit_exceeded', available };
    }
    const merchant = await this.namedAccount(db, 'merchant', req.merchantId, req.currency);
    const id = await this.write(
      db,
      { kind: 'hold', debit: consumer.id, credit: merchant, amount: req.amount, currency: req.currency, paymentId: req.paymentId },
      { debits_pending: req.amount },
      { credits_pending: req.amount },
    );
    return { ok: true, transferId: id };
  }

  /** Turns the hold into a charge. Idempotent: posting twice returns the first post. */
  async post(paymentId: string): Promise<string> {
    return this.resolve(paymentId, 'post');
  }

  /** Releases the hold. Idempotent; a payment without a hold has nothing to void (returns null). */
  async void(paymentId: string): Promise<string | null> {
    if (!(await this.findHold(this.q, paymentId))) return null;
    return this.resolve(paymentId, 'void');
  }

  async hasHold(paymentId: string): Promise<boolean> {
    return (await this.findHold(this.q, paymentId)) !== undefined;
  }

  /**
   * A reversing entry from the merchant back to the consumer's account. Row lock on the consumer
   * account; idempotent by refund id (a retry, on this node or another, returns the first transfer),
   * where SQLite's unique index would throw.
   */
  async refund(paymentId: string, refundId: string, amount: number): Promise<string> {
    return inUnit(this.q, async (db) => {
      const hold = await this.findHold(db, paymentId);
      if (!hold || hold.resolution !== 'post') {
        throw new CallpayError('invalid_state', `payment: ${paymentId} has no charge to refund`, 'payment');
      }
      await this.lockRow(db, hold.debit_account_id);
      const done = await queryOne<{ id: string; payment_id: string; amount: number }>(
        db,
        "SELECT id, payment_id, amount FROM transfers WHERE refund_id = $1 AND kind = 'refund'",
        [refundId],
      );
      if (done) {
        if (done.payment_id !== paymentId || done.amount !== amount) {
          throw new CallpayError('invalid_state', `refund: ${refundId} was already made with another payment or amount`, 'refund');
        }
        return done.id;
      }
      return this.insertPosted(db, 'refund', hold.credit_account_id, hold.debit_account_id, amount, hold.currency, { paymentId, refundId });
    });
  }

  /**
   * Post or void: row lock on the hold's consumer account, then the hold is read again, so of two
   * nodes resolving one payment at once the second finds the first's resolution (the same kind: its
   * id; the other kind: invalid_state) instead of writing a second one.
   */
  private async resolve(paymentId: string, kind: 'post' | 'void'): Promise<string> {
    const settled = (hold: HoldRow | undefined): string | undefined => {
      if (!hold) throw new CallpayError('invalid_state', `payment: ${paymentId} has no hold to ${kind}`, 'payment');
      if (hold.resolution === kind) return hold.resolution_id!;
      if (hold.resolution !== null) {
        throw new CallpayError('invalid_state', `payment: ${paymentId} hold was already ${hold.resolution}ed`, 'payment');
      }
      return undefined;
    };
    // A retry of a resolved hold is answered without a transaction; a resolution is final.
    const seen = await this.findHold(this.q, paymentId);
    const done = settled(seen);
    if (done !== undefined) return done;
    return inUnit(this.q, async (db) => {
      await this.lockRow(db, seen!.debit_account_id);
      const hold = (await this.findHold(db, paymentId))!;
      const meanwhile = settled(hold);
      if (meanwhile !== undefined) return meanwhile;
      const posted = kind === 'post' ? hold.amount : 0;
      return this.write(
        db,
        { kind, debit: hold.debit_account_id, credit: hold.credit_account_id, amount: hold.amount, currency: hold.currency, pendingId: hold.id, paymentId },
        { debits_pending: -hold.amount, debits_posted: posted },
        { credits_pending: -hold.amount, credits_posted: posted },
      );
    });
  }

  /** The hold and its resolution (if any); the kind conditions let both lookups use the partial unique indexes. */
  private async findHold(db: PgQueryable, paymentId: string): Promise<HoldRow | undefined> {
    return queryOne<HoldRow>(
      db,
      `SELECT h.id, h.debit_account_id, h.credit_account_id, h.amount, h.currency, r.kind AS resolution, r.id AS resolution_id
       FROM transfers h LEFT JOIN transfers r ON r.pending_id = h.id AND r.kind IN ('post', 'void')
       WHERE h.payment_id = $1 AND h.kind = 'hold'`,
      [paymentId],
    );
  }

  /** The consumer's ledger row, locked until the transaction ends; `not_found` for an unknown account. */
  private async lockConsumer(db: PgQueryable, billableAccountId: string): Promise<{ id: string; currency: string; plan: string }> {
    const row = await queryOne<{ id: string; currency: string; plan: string }>(
      db,
      `SELECT l.id, l.currency, b.plan FROM ledger_accounts l JOIN billable_accounts b ON b.id = l.billable_account_id
       WHERE l.billable_account_id = $1 FOR NO KEY UPDATE OF l`,
      [billableAccountId],
    );
    if (!row) throw new CallpayError('not_found', `account: no billable account ${billableAccountId}`, 'account');
    return row;
  }

  /**
   * NO KEY UPDATE: the lock an UPDATE of the sums takes anyway, so the FOR KEY SHARE that inserting a
   * transfer takes on its accounts (the foreign keys) is not blocked by it.
   */
  private async lockRow(db: PgQueryable, ledgerAccountId: string): Promise<void> {
    await execute(db, 'SELECT 1 FROM ledger_accounts WHERE id = $1 FOR NO KEY UPDATE', [ledgerAccountId]);
  }

  /** Read after the lock: a fresh statement, so it includes every transfer committed before it. */
  private async sumsOf(db: PgQueryable, ledgerId: string): Promise<AvailableInputs> {
    const row = await queryOne<AvailableInputs>(
      db,
      `SELECT b.plan, b.credit_limit, l.credits_posted, l.debits_posted, l.debits_pending, ${cycleUsageSql('l.id', '$2')} AS cycle_usage
       FROM ledger_accounts l JOIN billable_accounts b ON b.id = l.billable_account_id WHERE l.id = $1`,
      [ledgerId, this.cycle()],
    );
    if (!row) throw new CallpayError('not_found', `account: no ledger account ${ledgerId}`, 'account');
    return row;
  }

  /**
   * The merchant's (or the carrier's top-up) account in a currency, created on first use. Two nodes
   * creating it at once: INSERT … ON CONFLICT DO NOTHING waits for the other's insert to commit and
   * then does nothing, and the SELECT after it (a new snapshot) finds that row.
   */
  private async namedAccount(db: PgQueryable, code: 'merchant' | 'carrier_topups', merchantId: string | null, currency: string): Promise<string> {
    const find = () =>
      code === 'merchant'
        ? queryOne<{ id: string }>(db, "SELECT id FROM ledger_accounts WHERE code = 'merchant' AND merchant_id = $1 AND currency = $2", [merchantId, currency])
        : queryOne<{ id: string }>(db, "SELECT id FROM ledger_accounts WHERE code = 'carrier_topups' AND currency = $1", [currency]);
    const found = await find();
    if (found) return found.id;
    await execute(db, 'INSERT INTO ledger_accounts (id, code, merchant_id, currency) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
      newId('led'),
      code,
      merchantId,
      currency,
    ]);
    const made = await find();
    if (!made) throw new CallpayError('internal', `ledger: could not open the ${code} account in ${currency}`);
    return made.id;
  }

  private async insertPosted(
    db: PgQueryable,
    kind: 'topup' | 'refund',
    debit: string,
    credit: string,
    amount: number,
    currency: string,
    extra: { memo?: string | null; paymentId?: string; refundId?: string },
  ): Promise<string> {
    if (!Number.isSafeInteger(amount) || amount <= 0) throw new CallpayError('invalid_field', 'amount: expected a positive integer', 'amount');
    return this.write(db, { kind, debit, credit, amount, currency, ...extra }, { debits_posted: amount }, { credits_posted: amount });
  }

  /**
   * The transfer and both accounts' running sums in one statement (data-modifying CTEs): one round trip
   * instead of three, so the hot rows (the merchant's account) stay locked for less time. The consumer
   * row is already locked by the caller, so the statement takes at most one new row lock and the
   * CTEs' unspecified order cannot make a lock cycle. Column names come from the Sums type, never
   * from input; every value is bound.
   */
  private async write(db: PgQueryable, t: NewTransfer, debitSums: Sums, creditSums: Sums): Promise<string> {
    const id = newId('tr');
    const values: PgValue[] = [];
    const bind = (v: PgValue) => `$${values.push(v)}`;
    const row = [id, t.kind, t.debit, t.credit, t.amount, t.currency, t.pendingId ?? null, t.paymentId ?? null, t.refundId ?? null, this.cycle(), t.memo ?? null, this.now()];
    const parts = [
      `INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, currency, pending_id, payment_id, refund_id, cycle, memo, created_at)
       VALUES (${row.map(bind).join(', ')})`,
    ];
    for (const [account, sums] of [[t.debit, debitSums], [t.credit, creditSums]] as const) {
      const entries = Object.entries(sums).filter(([, v]) => v !== 0) as Array<[keyof Sums, number]>;
      if (entries.length > 0) parts.push(`UPDATE ledger_accounts SET ${entries.map(([k, v]) => `${k} = ${k} + ${bind(v)}`).join(', ')} WHERE id = ${bind(account)}`);
    }
    await execute(db, `WITH ${parts.map((p, i) => `w${i} AS (${p})`).join(', ')} SELECT 1`, values);
    return id;
  }

  private cycle(): string {
    return this.d.cycleOf(this.d.clock());
  }

  private now(): string {
    return this.d.clock().toISOString();
  }
}
