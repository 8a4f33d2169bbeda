/**
 * Fraud reported on the authorization call (issue 16, item 1): the consumer did not start this
 * payment and says so by keying 0. The report declines the payment, locks the consumer's
 * frictionless allowance, is listed for the operator's review, and counts against the merchant.
 */

/** The key that reports fraud on the call. */
export const FRAUD_KEY = '0';

/**
 * Whether one PIN entry is a fraud report: exactly "0", ended by "#" or by the inter-digit timeout
 * (a "0" keyed during the announcement is kept and starts the first entry). PINs are 4–8 digits, so
 * a lone "0" is never a PIN, and a PIN that starts with 0 ("0123#") is a longer entry: it is checked
 * as a PIN, never taken for a report. "*" declines as before, whatever was keyed with it.
 */
export function isFraudReportEntry(digits: string, terminator: string | null): boolean {
  return digits === FRAUD_KEY && terminator !== '*';
}

/** Config `risk.fraudReports`: how many reports against one merchant within the window disable it. */
export interface FraudReportPolicy {
  /** 0 = never disable automatically. */
  disableMerchantAfter: number;
  windowHours: number;
}

export const NO_AUTO_DISABLE: FraudReportPolicy = { disableMerchantAfter: 0, windowHours: 24 };

/** The start of the counting window ending at `now` (ISO 8601), for the store's count. */
export function fraudWindowStart(now: Date, policy: FraudReportPolicy): string {
  return new Date(now.getTime() - policy.windowHours * 3_600_000).toISOString();
}

/** Whether a merchant with `reportsInWindow` reports (the newest included) is to be disabled now. */
export function merchantDisableDue(reportsInWindow: number, policy: FraudReportPolicy): boolean {
  return policy.disableMerchantAfter > 0 && reportsInWindow >= policy.disableMerchantAfter;
}

/** A report as the operator reviews it: ids, amount and time; nothing about the consumer but the id. */
export interface FraudReport {
  paymentId: string;
  merchantId: string;
  consumerId: string;
  amount: number;
  currency: string;
  reportedAt: string;
}

export interface FraudReportFilter {
  merchantId?: string;
  consumerId?: string;
  /** ISO 8601 instant: reports at or after it. */
  since?: string;
  limit: number;
}

/**
 * The consumer's frictionless allowance is off (every payment needs the call, and the password when
 * they have one) until an operator, or the consumer, turns it back on. `paymentId`: the report that locked it.
 */
export interface AllowanceLock {
  consumerId: string;
  reason: 'fraud_report';
  paymentId: string | null;
  lockedAt: string;
}
