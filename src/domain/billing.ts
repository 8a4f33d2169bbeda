import { invalidField } from './errors.js';
import type { AccountKind, AccountPlan } from './account.js';

/**
 * Billing cycles are named by the month in which they close ("2026-11"). With closing day D, the
 * cycle "YYYY-MM" runs from the day after D of the previous month to the end of day D of MM, in
 * the carrier's time zone. A closing day past a month's end closes on its last day, so 31 gives
 * calendar months.
 */
export function cycleOf(instant: Date, closingDay: number, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(instant);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  let year = get('year');
  let month = get('month');
  const lastDay = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (get('day') > Math.min(closingDay, lastDay)) {
    month += 1;
    if (month === 13) {
      month = 1;
      year += 1;
    }
  }
  return `${year}-${String(month).padStart(2, '0')}`;
}

export function parseCycle(input: string, field = 'cycle'): string {
  const m = /^(\d{4})-(\d{2})$/.exec(input.trim());
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 12) throw invalidField(field, 'expected a billing cycle like 2026-11');
  return input.trim();
}

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

/** A merchant's charges and refunds in one currency and cycle, as the ledger recorded them. */
export interface SettlementRow {
  currency: string;
  charges: number;
  chargeCount: number;
  refunds: number;
  refundCount: number;
}
