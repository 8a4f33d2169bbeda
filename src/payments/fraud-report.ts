import type { Clock } from '../domain/clock.js';
import type { Payment } from '../domain/payment.js';
import type { Logger } from '../log.js';
import { SYSTEM_ACTOR } from '../domain/audit.js';
import { CallpayError } from '../domain/errors.js';
import { fraudWindowStart, merchantDisableDue, type FraudReportPolicy } from '../domain/fraud.js';
import type { Transaction } from './repositories.js';
import type { PaymentRules } from './call-steps.js';
import { paymentEventData } from './view.js';

/** What the payment service (and its call steps) take from config `risk.fraudReports`. */
export interface FraudReportConfig {
  /** When fraud reports on calls disable the merchant; absent = never. */
  fraudReports?: FraudReportPolicy;
}

export interface FraudReportDeps {
  rules: Pick<PaymentRules, 'end'>;
  policy: FraudReportPolicy;
  clock: Clock;
  log: Logger;
}

/**
 * The consumer keyed 0 on the call: in the caller's transaction, the payment is declined
 * (`fraud_reported`, its hold released), the report recorded for the operator's review and the
 * merchant told (`payment.fraud_reported` after `payment.declined`), the consumer's frictionless
 * allowance locked, and the merchant disabled when its reports in the window reach the configured
 * number. Each consequence is in the audit log under callpay's own name, as an operator's would be.
 */
export async function recordFraudReport(tx: Transaction, d: FraudReportDeps, payment: Payment): Promise<Payment> {
  const now = d.clock();
  const consumerId = payment.consumerId;
  if (!consumerId) throw new CallpayError('invalid_state', `payment: ${payment.id} has no consumer to have reported fraud`, 'payment');
  const done = await d.rules.end(tx, payment, 'declined', 'fraud_reported', 'call: the consumer reported fraud (keyed 0)');
  const reportedAt = now.toISOString();
  const reports = await tx.fraud.record(
    { paymentId: done.id, merchantId: done.merchantId, consumerId, amount: done.amount, currency: done.currency, reportedAt },
    fraudWindowStart(now, d.policy),
  );
  await tx.events.append(done.merchantId, 'payment.fraud_reported', done.id, { ...paymentEventData(done), fraud_report: { reported_at: reportedAt } });
  await tx.audit.append({ actor: SYSTEM_ACTOR, action: 'payment.fraud_report', subject: done.id, details: { merchant_id: done.merchantId, consumer_id: consumerId } });

  if (!(await tx.fraud.allowanceLock(consumerId))) {
    await tx.fraud.lockAllowance({ consumerId, reason: 'fraud_report', paymentId: done.id, lockedAt: reportedAt });
    await tx.audit.append({ actor: SYSTEM_ACTOR, action: 'consumer.allowance_lock', subject: consumerId, details: { reason: 'fraud_report', payment_id: done.id } });
  }
  d.log.warn({ paymentId: done.id, merchantId: done.merchantId, consumerId, merchantReports: reports }, 'fraud reported on the call: payment declined, allowance locked');

  if (merchantDisableDue(reports, d.policy) && (await tx.merchants.get(done.merchantId)).status === 'active') {
    const details = { from: 'active', to: 'disabled', reason: 'fraud_reports', fraud_reports: reports, window_hours: d.policy.windowHours };
    const merchant = await tx.merchants.setStatus(done.merchantId, 'disabled');
    await tx.events.append(merchant.id, 'merchant.disabled', null, { merchant: { id: merchant.id, status: merchant.status }, reason: 'fraud_reports', fraud_reports: reports, window_hours: d.policy.windowHours });
    await tx.audit.append({ actor: SYSTEM_ACTOR, action: 'merchant.disable', subject: merchant.id, details });
    d.log.warn({ merchantId: merchant.id, reports, windowHours: d.policy.windowHours }, 'merchant disabled: fraud reports reached risk.fraudReports.disableMerchantAfter');
  }
  return done;
}
