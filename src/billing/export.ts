import type { Db } from '../store/db.js';
import type { AccountKind, AccountPlan } from '../domain/account.js';

/** One entry on a consumer's carrier bill: a charge (positive) or a refund (negative), in minor units. */
export interface BillLine {
  type: 'charge' | 'refund';
  /** callpay's id (acct_…): the grouping key; the files carry the carrier's number instead. */
  accountId: string;
  accountNumber: string;
  device: AccountKind;
  plan: AccountPlan;
  /** When the ledger transfer was written (ISO 8601, UTC). */
  time: string;
  merchantId: string;
  merchantName: string;
  reference: string;
  paymentId: string;
  transferId: string;
  currency: string;
  amount: number;
}

/** Sums of one account's lines in one currency; refunds as a positive total, net = charges − refunds. */
export interface AccountTotal {
  accountId: string;
  accountNumber: string;
  device: AccountKind;
  plan: AccountPlan;
  currency: string;
  charges: number;
  refunds: number;
  net: number;
  chargeCount: number;
  refundCount: number;
  count: number;
}

export interface Bill {
  cycle: string;
  lines: BillLine[];
  totals: AccountTotal[];
}

/** Opens the sealed carrier account number of a billable account (e.g. via AccountRepository.get). */
export type OpenAccountNumber = (billableAccountId: string) => string;

export function accountNumberOpener(accounts: { get(id: string): { number: string } }): OpenAccountNumber {
  return (id) => accounts.get(id).number;
}

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

/**
 * Every charge and refund billed in `cycle`, ordered by account then time. One read transaction, so
 * a payment posted while the export runs is either wholly in it or wholly out of it.
 */
export function billLines(db: Db, openNumber: OpenAccountNumber, cycle: string): BillLine[] {
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

/** Per account and currency, in the order the accounts first appear in `lines`. */
export function accountTotals(lines: readonly BillLine[]): AccountTotal[] {
  const totals = new Map<string, AccountTotal>();
  for (const l of lines) {
    const key = `${l.accountId}/${l.currency}`;
    let t = totals.get(key);
    if (!t) {
      t = { accountId: l.accountId, accountNumber: l.accountNumber, device: l.device, plan: l.plan, currency: l.currency,
        charges: 0, refunds: 0, net: 0, chargeCount: 0, refundCount: 0, count: 0 };
      totals.set(key, t);
    }
    if (l.type === 'charge') {
      t.charges += l.amount;
      t.chargeCount += 1;
    } else {
      t.refunds -= l.amount;
      t.refundCount += 1;
    }
    t.net += l.amount;
    t.count += 1;
  }
  return [...totals.values()];
}

export function buildBill(db: Db, openNumber: OpenAccountNumber, cycle: string): Bill {
  const lines = billLines(db, openNumber, cycle);
  return { cycle, lines, totals: accountTotals(lines) };
}
