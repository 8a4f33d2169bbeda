import type { PgQueryable } from './db.js';
import { queryOne, queryRows } from './db.js';
import type { PgRepoDeps } from './deps.js';
import type { PgAccountRepository } from './accounts.js';
import { CallpayError } from '../../domain/errors.js';
import type { AccountKind, AccountPlan } from '../../domain/account.js';
import type { BillLine, SettlementRow } from '../../domain/billing.js';
import type { BillingRepository } from '../../payments/repositories.js';

interface LineRow {
  kind: 'post' | 'refund';
  transfer_id: string;
  amount: number;
  currency: string;
  created_at: string;
  payment_id: string;
  account_id: string;
  number_sealed: Buffer;
  device: AccountKind;
  plan: AccountPlan;
  reference: string;
  merchant_id: string;
  merchant_name: string;
}

// The consumer's side of each transfer: a post debits it, a refund credits it. Holds and voids never
// reach a bill. Only the columns a bill needs are selected: the consumers table is never joined; the
// account's sealed number comes along so it is opened without a query per account.
// SQLite breaks ties within one millisecond by rowid (insertion order); PostgreSQL has no such column,
// so a post comes before a refund written in the same millisecond, then the transfer id (time-ordered).
const LINES_SQL = `
  SELECT t.kind, t.id AS transfer_id, t.amount, t.currency, t.created_at, t.payment_id,
         b.id AS account_id, b.number_sealed, b.kind AS device, b.plan,
         p.reference, m.id AS merchant_id, m.display_name AS merchant_name
  FROM transfers t
  JOIN ledger_accounts l ON l.code = 'consumer'
       AND l.id = CASE t.kind WHEN 'post' THEN t.debit_account_id ELSE t.credit_account_id END
  JOIN billable_accounts b ON b.id = l.billable_account_id
  JOIN payments p ON p.id = t.payment_id
  JOIN merchants m ON m.id = p.merchant_id
  WHERE t.cycle = $1 AND t.kind IN ('post', 'refund')
  ORDER BY b.id, t.created_at, t.kind = 'refund', t.id`;

// The merchant's side of the same transfers: a post credits the merchant's ledger account, a refund
// debits it. sum() of BIGINT is NUMERIC in PostgreSQL: cast back so it arrives as a number.
const SETTLEMENT_SQL = `
  SELECT t.currency,
         coalesce(sum(CASE WHEN t.kind = 'post' THEN t.amount END), 0)::bigint AS charges,
         count(CASE WHEN t.kind = 'post' THEN 1 END) AS "chargeCount",
         coalesce(sum(CASE WHEN t.kind = 'refund' THEN t.amount END), 0)::bigint AS refunds,
         count(CASE WHEN t.kind = 'refund' THEN 1 END) AS "refundCount"
  FROM transfers t
  JOIN ledger_accounts l ON l.code = 'merchant' AND l.merchant_id = $1
       AND l.id = CASE t.kind WHEN 'post' THEN t.credit_account_id ELSE t.debit_account_id END
  WHERE t.cycle = $2 AND t.kind IN ('post', 'refund')
  GROUP BY t.currency
  ORDER BY t.currency`;

/** Bill lines and merchant settlements: read models over the ledger's transfers (mirrors src/store/billing.ts). */
export class PgBillingRepository implements BillingRepository {
  constructor(
    private readonly q: PgQueryable,
    // the constructor shape every repository has; billing needs no clock or keys of its own
    _d: PgRepoDeps,
    private readonly accounts: PgAccountRepository,
  ) {}

  /**
   * Every charge and refund billed in `cycle`, by account then time. One statement is one snapshot,
   * so a payment posted while the export runs is either wholly in it or wholly out of it, without
   * the read transaction SQLite needs for its separate number lookups.
   */
  async billRows(cycle: string): Promise<BillLine[]> {
    const rows = await queryRows<LineRow>(this.q, LINES_SQL, [cycle]);
    const numbers = new Map<string, string>();
    const numberOf = (r: LineRow) => {
      let n = numbers.get(r.account_id);
      if (n === undefined) numbers.set(r.account_id, (n = this.accounts.openNumber(r.account_id, r.number_sealed)));
      return n;
    };
    return rows.map((r): BillLine => ({
      type: r.kind === 'post' ? 'charge' : 'refund',
      accountId: r.account_id,
      accountNumber: numberOf(r),
      device: r.device,
      plan: r.plan,
      time: r.created_at,
      merchantId: r.merchant_id,
      merchantName: r.merchant_name,
      reference: r.reference,
      paymentId: r.payment_id,
      transferId: r.transfer_id,
      currency: r.currency,
      amount: r.kind === 'post' ? r.amount : -r.amount,
    }));
  }

  /**
   * A merchant's charges and refunds per currency in `cycle`; an unknown merchant is `not_found`.
   * Two statements, no transaction: the sums are one statement (one snapshot); the name is only a label.
   */
  async settlement(merchantId: string, cycle: string): Promise<{ merchantName: string; rows: SettlementRow[] }> {
    const merchant = await queryOne<{ display_name: string }>(this.q, 'SELECT display_name FROM merchants WHERE id = $1', [merchantId]);
    if (merchant === undefined) throw new CallpayError('not_found', `merchant: no merchant ${merchantId}`, 'merchant');
    return { merchantName: merchant.display_name, rows: await queryRows<SettlementRow>(this.q, SETTLEMENT_SQL, [merchantId, cycle]) };
  }
}
