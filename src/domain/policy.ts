import type { ConsumerPolicy } from './consumer.js';

/** Carrier-wide limits in the payment's currency (minor units); null = no such limit. */
export interface CarrierCeilings {
  callAlwaysAbove: number | null;
  maxSinglePayment: number | null;
  frictionlessMaxAmount: number | null;
  frictionlessMaxCount: number | null;
}

/** Call-less payments that succeeded since the consumer's last payment authorized by call. */
export interface FrictionlessUsage {
  amount: number;
  count: number;
}

export type Step = 'password' | 'call';

export type Decision =
  | { allowed: true; steps: Step[]; reasons: string[] }
  | { allowed: false; code: 'amount_too_large'; reasons: string[] };

/** When a carrier configures nothing for a currency, everything needs the call and nothing is frictionless. */
export const STRICT_CEILINGS: CarrierCeilings = { callAlwaysAbove: 0, maxSinglePayment: null, frictionlessMaxAmount: 0, frictionlessMaxCount: 0 };

const min = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.min(a, b));

/**
 * The flexible policy: which authentication steps this amount needs for this consumer. Pure; the
 * decision (steps and reasons) is stored on the payment. A consumer may relax steps for small
 * amounts, never beyond the carrier's ceilings, and skipping the call draws on a frictionless
 * allowance (like PSD2's low-value exemption) that a full authorization by call resets. A locked
 * allowance (a fraud report on a call) skips nothing: the password when there is one, and the call.
 */
export function decide(input: {
  amount: number;
  policy: ConsumerPolicy;
  hasPassword: boolean;
  ceilings: CarrierCeilings;
  usage: FrictionlessUsage;
  /** The consumer's frictionless allowance is locked (domain/fraud.ts AllowanceLock). */
  allowanceLocked: boolean;
}): Decision {
  const { amount, policy, ceilings, usage } = input;
  if (ceilings.maxSinglePayment !== null && amount > ceilings.maxSinglePayment) {
    return { allowed: false, code: 'amount_too_large', reasons: [`amount above the carrier maximum of ${ceilings.maxSinglePayment}`] };
  }
  const steps: Step[] = [];
  const reasons: string[] = [];
  if (input.allowanceLocked) {
    if (input.hasPassword) steps.push('password');
    steps.push('call');
    reasons.push(input.hasPassword ? 'password: required, the allowance is locked after a fraud report' : 'password: consumer has none');
    reasons.push('call: required, the allowance is locked after a fraud report');
    return { allowed: true, steps, reasons };
  }

  if (!input.hasPassword) reasons.push('password: consumer has none');
  else if (amount > policy.passwordAbove) {
    steps.push('password');
    reasons.push(`password: amount above the consumer's threshold of ${policy.passwordAbove}`);
  } else reasons.push(`password: skipped at or below ${policy.passwordAbove}`);

  if (ceilings.callAlwaysAbove !== null && amount > ceilings.callAlwaysAbove) {
    steps.push('call');
    reasons.push(`call: amount above the carrier's ceiling of ${ceilings.callAlwaysAbove}`);
  } else if (amount > policy.callAbove) {
    steps.push('call');
    reasons.push(`call: amount above the consumer's threshold of ${policy.callAbove}`);
  } else {
    const capAmount = min(policy.frictionlessAmount, ceilings.frictionlessMaxAmount);
    const capCount = min(policy.frictionlessCount, ceilings.frictionlessMaxCount);
    if (capAmount !== null && usage.amount + amount > capAmount) {
      steps.push('call');
      reasons.push(`call: frictionless amount since the last call would pass ${capAmount}`);
    } else if (capCount !== null && usage.count + 1 > capCount) {
      steps.push('call');
      reasons.push(`call: frictionless count since the last call would pass ${capCount}`);
    } else {
      reasons.push(`call: skipped at or below ${policy.callAbove}, within the frictionless allowance`);
    }
  }
  return { allowed: true, steps, reasons };
}
