import { invalidField } from './errors.js';

export const ACCOUNT_KINDS = ['landline', 'mobile', 'broadband'] as const;
export type AccountKind = (typeof ACCOUNT_KINDS)[number];

export const ACCOUNT_PLANS = ['prepaid', 'postpaid'] as const;
export type AccountPlan = (typeof ACCOUNT_PLANS)[number];

export function parseAccountKind(input: string, field = 'kind'): AccountKind {
  const kind = ACCOUNT_KINDS.find((k) => k === input.trim().toLowerCase());
  if (!kind) throw invalidField(field, `expected one of ${ACCOUNT_KINDS.join(', ')}`);
  return kind;
}

export function parseAccountPlan(input: string, field = 'plan'): AccountPlan {
  const plan = ACCOUNT_PLANS.find((p) => p === input.trim().toLowerCase());
  if (!plan) throw invalidField(field, `expected one of ${ACCOUNT_PLANS.join(', ')}`);
  return plan;
}

/** Carrier account numbers: what the carrier's billing system uses, kept without separators. */
export function parseCarrierAccountNumber(input: string, field = 'number'): string {
  const number = input.trim().replace(/[\s-]/g, '').toUpperCase();
  if (!/^[A-Z0-9]{4,32}$/.test(number)) throw invalidField(field, 'expected 4 to 32 letters or digits');
  return number;
}

export function maskAccountNumber(number: string): string {
  return `${'*'.repeat(Math.max(0, number.length - 4))}${number.slice(-4)}`;
}

export interface BillableAccount {
  id: string;
  consumerId: string;
  kind: AccountKind;
  number: string;
  plan: AccountPlan;
  currency: string;
  /** Prepaid: posted balance in minor units (0 for postpaid). */
  balance: number;
  /** Prepaid: balance less holds. Postpaid: credit left in the current billing cycle. */
  available: number;
  /** Postpaid credit per billing cycle in minor units; null for prepaid. */
  creditLimit: number | null;
  isDefault: boolean;
  createdAt: string;
}

export interface NewAccount {
  consumerId: string;
  kind: AccountKind;
  number: string;
  plan: AccountPlan;
  currency: string;
  creditLimit: number | null;
  makeDefault: boolean;
}
