import type { Db } from './db.js';
import { CallpayError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { HoldRequest, HoldResult } from '../domain/ledger.js';

interface LedgerAccountRow {
  id: string;
  debits_pending: number;
  debits_posted: number;
  credits_pending: number;
  credits_posted: number;
}

interface HoldRow {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: number;
  currency: string;
  resolution: 'post' | 'void' | null;
}

/**
 * Double-entry, append-only ledger. Every method runs in its own transaction (a savepoint when the
 * caller already holds one), checks and moves money atomically, and is idempotent where a retry
 * or a restart could repeat it: one hold per payment, one post-or-void per hold.
 */
export class Ledger {
  /** The last cycle computed, by the minute it was for: every hold and transfer asks. */
  private lastCycle = { minute: NaN, cycle: '' };

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly cycleOf: (instant: Date) => string,
  ) {}

  /**
   * Kept for the minute: a cycle ends at midnight in the carrier's time zone, and every zone's
   * offset is a whole number of minutes, so two instants in one UTC minute share their cycle.
   * (Working it out builds an Intl.DateTimeFormat, which costs more than the hold's SQL.)
   */
  currentCycle(): string {
    const now = this.clock();
    const minute = Math.floor(now.getTime() / 60_000);
    if (minute !== this.lastCycle.minute) this.lastCycle = { minute, cycle: this.cycleOf(now) };
    return this.lastCycle.cycle;
  }

  /** Called when a billable account is created, inside the same transaction. */
  openConsumerAccount(billableAccountId: string, currency: string): void {
    this.db
      .prepare("INSERT INTO ledger_accounts (id, code, billable_account_id, currency) VALUES (?, 'consumer', ?, ?)")
      .run(newId('led'), billableAccountId, currency);
  }

  topup(billableAccountId: string, amount: number, memo: string | null): string {
    return this.db.transaction(() => {
      const consumer = this.consumerAccount(billableAccountId);
      const source = this.namedAccount('carrier_topups', null, consumer.currency);
      return this.insertPosted('topup', source, consumer.id, amount, consumer.currency, { memo });
    }).immediate();
  }

  /** Prepaid: balance not spent or held. Postpaid: credit left in the current cycle. */
  available(billableAccountId: string): number {
    const acct = this.db
      .prepare(
        `SELECT l.*, b.plan, b.credit_limit FROM ledger_accounts l JOIN billable_accounts b ON b.id = l.billable_account_id
         WHERE l.billable_account_id = ?`,
      )
      .get(billableAccountId) as (LedgerAccountRow & { plan: string; credit_limit: number | null }) | undefined;
    if (!acct) throw new CallpayError('not_found', `account: no ledger account for ${billableAccountId}`, 'account');
    if (acct.plan === 'prepaid') return acct.credits_posted - acct.debits_posted - acct.debits_pending;
    return (acct.credit_limit ?? 0) - this.cycleUsage(acct.id, this.currentCycle()) - acct.debits_pending;
  }

  /** Postpaid usage: charges posted in the cycle, less refunds made in it. Pending holds are apart. */
  private cycleUsage(ledgerAccountId: string, cycle: string): number {
    return this.db
      .prepare(
        `SELECT coalesce(sum(CASE WHEN kind = 'post' THEN amount ELSE -amount END), 0) FROM transfers
         WHERE cycle = @cycle AND ((kind = 'post' AND debit_account_id = @id) OR (kind = 'refund' AND credit_account_id = @id))`,
      )
      .pluck()
      .get({ id: ledgerAccountId, cycle }) as number;
  }

  /** Places the payment's hold, or returns why it cannot; a second call returns the first hold. */
  hold(req: HoldRequest): HoldResult {
    return this.db.transaction((): HoldResult => {
      const existing = this.findHold(req.paymentId);
      if (existing) return { ok: true, transferId: existing.id };
      const consumer = this.consumerAccount(req.billableAccountId);
      if (consumer.currency !== req.currency) {
        throw new CallpayError('invalid_state', `account: ${req.billableAccountId} bills in ${consumer.currency}`, 'currency');
      }
      const available = this.available(req.billableAccountId);
      if (available < req.amount) {
        return { ok: false, code: consumer.plan === 'prepaid' ? 'insufficient_funds' : 'credit_limit_exceeded', available };
      }
      const merchant = this.namedAccount('merchant', req.merchantId, req.currency);
      const id = newId('tr');
      this.db
        .prepare(
          `INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, currency, payment_id, cycle, created_at)
           VALUES (?, 'hold', ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, consumer.id, merchant, req.amount, req.currency, req.paymentId, this.currentCycle(), this.now());
      this.bump(consumer.id, { debits_pending: req.amount });
      this.bump(merchant, { credits_pending: req.amount });
      return { ok: true, transferId: id };
    }).immediate();
  }

  /** Turns the hold into a charge. Idempotent: posting twice returns the first post. */
  post(paymentId: string): string {
    return this.resolve(paymentId, 'post');
  }

  /** Releases the hold. Idempotent; a payment without a hold has nothing to void (returns null). */
  void(paymentId: string): string | null {
    if (!this.findHold(paymentId)) return null;
    return this.resolve(paymentId, 'void');
  }

  hasHold(paymentId: string): boolean {
    return this.findHold(paymentId) !== undefined;
  }

  /** A reversing entry from the merchant back to the consumer's account. */
  refund(paymentId: string, refundId: string, amount: number): string {
    return this.db.transaction(() => {
      const hold = this.findHold(paymentId);
      if (!hold || hold.resolution !== 'post') {
        throw new CallpayError('invalid_state', `payment: ${paymentId} has no charge to refund`, 'payment');
      }
      return this.insertPosted('refund', hold.credit_account_id, hold.debit_account_id, amount, hold.currency, { paymentId, refundId });
    }).immediate();
  }

  private resolve(paymentId: string, kind: 'post' | 'void'): string {
    return this.db.transaction(() => {
      const hold = this.findHold(paymentId);
      if (!hold) throw new CallpayError('invalid_state', `payment: ${paymentId} has no hold to ${kind}`, 'payment');
      if (hold.resolution === kind) {
        return this.db.prepare("SELECT id FROM transfers WHERE pending_id = ? AND kind IN ('post', 'void')").pluck().get(hold.id) as string;
      }
      if (hold.resolution !== null) {
        throw new CallpayError('invalid_state', `payment: ${paymentId} hold was already ${hold.resolution}ed`, 'payment');
      }
      const id = newId('tr');
      this.db
        .prepare(
          `INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, currency, pending_id, payment_id, cycle, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, kind, hold.debit_account_id, hold.credit_account_id, hold.amount, hold.currency, hold.id, paymentId, this.currentCycle(), this.now());
      const posted = kind === 'post' ? hold.amount : 0;
      this.bump(hold.debit_account_id, { debits_pending: -hold.amount, debits_posted: posted });
      this.bump(hold.credit_account_id, { credits_pending: -hold.amount, credits_posted: posted });
      return id;
    }).immediate();
  }

  private findHold(paymentId: string): HoldRow | undefined {
    return this.db
      .prepare(
        `SELECT h.id, h.debit_account_id, h.credit_account_id, h.amount, h.currency,
           (SELECT r.kind FROM transfers r WHERE r.pending_id = h.id AND r.kind IN ('post', 'void')) AS resolution
         FROM transfers h WHERE h.payment_id = ? AND h.kind = 'hold'`,
      )
      .get(paymentId) as HoldRow | undefined;
  }

  private consumerAccount(billableAccountId: string): { id: string; currency: string; plan: string } {
    const row = this.db
      .prepare(
        `SELECT l.id, l.currency, b.plan FROM ledger_accounts l JOIN billable_accounts b ON b.id = l.billable_account_id
         WHERE l.billable_account_id = ?`,
      )
      .get(billableAccountId) as { id: string; currency: string; plan: string } | undefined;
    if (!row) throw new CallpayError('not_found', `account: no billable account ${billableAccountId}`, 'account');
    return row;
  }

  /** The merchant's (or the carrier's top-up) account in a currency, created on first use. */
  private namedAccount(code: 'merchant' | 'carrier_topups', merchantId: string | null, currency: string): string {
    // One query per code, each matching its partial unique index (a generic "merchant_id IS ?" scans the table).
    const find = () =>
      (code === 'merchant'
        ? this.db.prepare("SELECT id FROM ledger_accounts WHERE code = 'merchant' AND merchant_id = ? AND currency = ?").pluck().get(merchantId, currency)
        : this.db.prepare("SELECT id FROM ledger_accounts WHERE code = 'carrier_topups' AND currency = ?").pluck().get(currency)) as string | undefined;
    const found = find();
    if (found) return found;
    const id = newId('led');
    this.db.prepare('INSERT INTO ledger_accounts (id, code, merchant_id, currency) VALUES (?, ?, ?, ?)').run(id, code, merchantId, currency);
    return id;
  }

  private insertPosted(
    kind: 'topup' | 'refund',
    debit: string,
    credit: string,
    amount: number,
    currency: string,
    extra: { memo?: string | null; paymentId?: string; refundId?: string },
  ): string {
    if (!Number.isSafeInteger(amount) || amount <= 0) throw new CallpayError('invalid_field', 'amount: expected a positive integer', 'amount');
    const id = newId('tr');
    this.db
      .prepare(
        `INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, currency, payment_id, refund_id, cycle, memo, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(id, kind, debit, credit, amount, currency, extra.paymentId ?? null, extra.refundId ?? null, this.currentCycle(), extra.memo ?? null, this.now());
    this.bump(debit, { debits_posted: amount });
    this.bump(credit, { credits_posted: amount });
    return id;
  }

  private bump(id: string, deltas: Partial<Record<'debits_pending' | 'debits_posted' | 'credits_pending' | 'credits_posted', number>>): void {
    const entries = Object.entries(deltas).filter(([, v]) => v !== 0);
    if (entries.length === 0) return;
    this.db
      .prepare(`UPDATE ledger_accounts SET ${entries.map(([k]) => `${k} = ${k} + ?`).join(', ')} WHERE id = ?`)
      .run(...entries.map(([, v]) => v), id);
  }

  private now(): string {
    return this.clock().toISOString();
  }
}
