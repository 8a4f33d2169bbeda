import type { Db } from '../store/db.js';
import { CallpayError } from '../domain/errors.js';

/** What callpay owes a merchant for one currency in one cycle; refunds as a positive total. */
export interface SettlementLine {
  currency: string;
  charges: number;
  chargeCount: number;
  refunds: number;
  refundCount: number;
  net: number;
}

export interface Settlement {
  merchantId: string;
  merchantName: string;
  cycle: string;
  /** One entry per currency with activity, by currency code; empty when nothing happened. */
  currencies: SettlementLine[];
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

/** A merchant's totals for a cycle, read in one transaction; an unknown merchant is `not_found`. */
export function merchantSettlement(db: Db, merchantId: string, cycle: string): Settlement {
  return db.transaction((): Settlement => {
    const name = db.prepare('SELECT display_name FROM merchants WHERE id = ?').pluck().get(merchantId) as string | undefined;
    if (name === undefined) throw new CallpayError('not_found', `merchant: no merchant ${merchantId}`, 'merchant');
    const rows = db.prepare(SETTLEMENT_SQL).all({ merchantId, cycle }) as Array<Omit<SettlementLine, 'net'>>;
    return { merchantId, merchantName: name, cycle, currencies: rows.map((r) => ({ ...r, net: r.charges - r.refunds })) };
  })();
}
