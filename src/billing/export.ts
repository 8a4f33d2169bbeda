import type { AccountKind, AccountPlan } from '../domain/account.js';
import type { BillLine } from '../domain/billing.js';
import type { BillingRepository } from '../payments/repositories.js';

export type { BillLine };

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

/** The bill of one cycle: its lines, read consistently, and the totals per account and currency. */
export async function buildBill(billing: BillingRepository, cycle: string): Promise<Bill> {
  const lines = await billing.billRows(cycle);
  return { cycle, lines, totals: accountTotals(lines) };
}
