import type { Db } from './db.js';
import type { AccountRepository } from './accounts.js';
import { CallpayError } from '../domain/errors.js';
import type { AccountKind, AccountPlan } from '../domain/account.js';
import type { BillLine, SettlementRow } from '../domain/billing.js';

interface LineRow {
  kind: 'post' | 'refund';
  transfer_id: string;
  amount: number;
  currency: string;
  created_at: string;
  payment_id: string;
  account_id: string;
  device: AccountKind;
  plan: AccountPlan;
  reference: string;
  merchant_id: string;
  merchant_name: string;
}

// The consumer's side of each transfer: a post debits it, a refund credits it. Holds and voids never
// reach a bill. Only the columns a bill needs are selected: the consumers table (phone, ID, address,
// login) is never joined. rowid breaks ties between transfers written in the same millisecond; the
// table is append-only, so rowid follows insertion order.
const LINES_SQL = `
  SELECT t.kind, t.id AS transfer_id, t.amount, t.currency, t.created_at, t.payment_id,
         b.id AS account_id, b.kind AS device, b.plan,
         p.reference, m.id AS merchant_id, m.display_name AS merchant_name
  FROM transfers t
  JOIN ledger_accounts l ON l.code = 'consumer'
       AND l.id = CASE t.kind WHEN 'post' THEN t.debit_account_id ELSE t.credit_account_id END
  JOIN billable_accounts b ON b.id = l.billable_account_id
  JOIN payments p ON p.id = t.payment_id
  JOIN merchants m ON m.id = p.merchant_id
  WHERE t.cycle = ? AND t.kind IN ('post', 'refund')
  ORDER BY b.id, t.created_at, t.rowid`;

/** Bill lines and merchant settlements: read models over the ledger's transfers. */
export class BillingRepository {
  constructor(
    private readonly db: Db,
    private readonly accounts: AccountRepository,
  ) {}

  /**
   * Every charge and refund billed in `cycle`, ordered by account then time. One read transaction,
   * so a payment posted while the export runs is either wholly in it or wholly out of it.
   */
  billRows(cycle: string): BillLine[] {
    const db = this.db;
    const openNumber = (id: string) => this.accounts.get(id).number;
    return db.transaction(() => {
      const rows = db.prepare(LINES_SQL).all(cycle) as LineRow[];
      const numbers = new Map<string, string>();
      const numberOf = (id: string) => {
        let n = numbers.get(id);
        if (n === undefined) numbers.set(id, (n = openNumber(id)));
        return n;
      };
      return rows.map((r): BillLine => ({
        type: r.kind === 'post' ? 'charge' : 'refund',
        accountId: r.account_id,
        accountNumber: numberOf(r.account_id),
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
    })();
}

  /** A merchant's charges and refunds per currency in `cycle`; an unknown merchant is `not_found`. */
  settlement(merchantId: string, cycle: string): { merchantName: string; rows: SettlementRow[] } {
    return this.db.transaction(() => {
      const name = this.db.prepare('SELECT display_name FROM merchants WHERE id = ?').pluck().get(merchantId) as string | undefined;
      if (name === undefined) throw new CallpayError('not_found', `merchant: no merchant ${merchantId}`, 'merchant');
      return { merchantName: name, rows: this.db.prepare(SETTLEMENT_SQL).all({ merchantId, cycle }) as SettlementRow[] };
    })();
  }
}

// The merchant's side of the same transfers the bill is made of: a post credits the merchant's
// ledger account, a refund debits it. Holds and voids move no money, so they are left out.
const SETTLEMENT_SQL = `
  SELECT t.currency,
         coalesce(sum(CASE WHEN t.kind = 'post' THEN t.amount END), 0) AS charges,
         count(CASE WHEN t.kind = 'post' THEN 1 END) AS chargeCount,
         coalesce(sum(CASE WHEN t.kind = 'refund' THEN t.amount END), 0) AS refunds,
         count(CASE WHEN t.kind = 'refund' THEN 1 END) AS refundCount
  FROM transfers t
  JOIN ledger_accounts l ON l.code = 'merchant' AND l.merchant_id = @merchantId
       AND l.id = CASE t.kind WHEN 'post' THEN t.credit_account_id ELSE t.debit_account_id END
  WHERE t.cycle = @cycle AND t.kind IN ('post', 'refund')
  GROUP BY t.currency
  ORDER BY t.currency`;
