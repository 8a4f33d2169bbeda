import type { BillingRepository } from '../payments/repositories.js';

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

/** A merchant's totals for a cycle, read in one transaction; an unknown merchant is `not_found`. */
export async function merchantSettlement(billing: BillingRepository, merchantId: string, cycle: string): Promise<Settlement> {
  const { merchantName, rows } = await billing.settlement(merchantId, cycle);
  return { merchantId, merchantName, cycle, currencies: rows.map((r) => ({ ...r, net: r.charges - r.refunds })) };
}
