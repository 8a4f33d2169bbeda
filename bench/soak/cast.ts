// The consumers of the soak: who they are, what their phone does, and what their policy asks for.
// The phone's behaviour is in the number (the fifth digit, see sip/soak-phones.xml).

export const PIN = '482916';
/** Keyed by the phones whose number says "wrong PIN": two wrong tries, as many as ivr.pinTries allows. */
export const WRONG_PINS = '111111#222222#';

export type Role =
  | 'pin' // called, keys the right PIN
  | 'wrong' // called, keys wrong PINs
  | 'busy' // called, busy
  | 'silent' // called, never answers
  | 'small' // pays small amounts without a call (policy)
  | 'tight' // prepaid with little money: small call-less payments race for the last of it
  | 'credit'; // postpaid with a small credit limit, call-less payments

export interface CastMember {
  login: string;
  role: Role;
  phone: string;
  /** Prepaid top-up in major units, or the postpaid credit limit. */
  plan: { kind: 'prepaid'; topup: number } | { kind: 'postpaid'; creditLimit: number };
  /** `consumer policy` options, if not the default (call for every amount). */
  policy?: string[];
}

/** Phone behaviour digit per role; the call-less roles answer with the right PIN if ever called. */
const BEHAVIOUR: Record<Role, number> = { pin: 1, wrong: 2, busy: 3, silent: 4, small: 1, tight: 1, credit: 1 };

/** Call-less up to 100.00 TWD, with the frictionless allowance as large as the ceilings allow. */
const CALL_LESS = ['--call-above', '100', '--frictionless-amount', '1000000000', '--frictionless-count', '1000'];

export function phoneOf(role: Role, index: number): string {
  return `+8869${BEHAVIOUR[role]}00000${String(index).padStart(2, '0')}`;
}

/** Several consumers per calling role: the per-consumer call cap (at most 1000 an hour) is spread. */
export function cast(): CastMember[] {
  const members: CastMember[] = [];
  let index = 0;
  const add = (role: Role, count: number, plan: CastMember['plan'], policy?: string[]) => {
    for (let i = 0; i < count; i++) {
      index++;
      members.push({ login: `soak-${role}-${i + 1}`, role, phone: phoneOf(role, index), plan, ...(policy ? { policy } : {}) });
    }
  };
  add('pin', 4, { kind: 'prepaid', topup: 10_000_000 });
  add('wrong', 2, { kind: 'prepaid', topup: 10_000_000 });
  add('busy', 1, { kind: 'prepaid', topup: 10_000_000 });
  add('silent', 1, { kind: 'prepaid', topup: 10_000_000 });
  add('small', 2, { kind: 'prepaid', topup: 10_000_000 }, CALL_LESS);
  add('tight', 1, { kind: 'prepaid', topup: 300 }, CALL_LESS);
  add('credit', 1, { kind: 'postpaid', creditLimit: 300 }, CALL_LESS);
  return members;
}

/** Amounts in minor units (TWD has two decimals): above the call threshold, or at most 100.00. */
export const CALL_AMOUNT = { min: 10_001, max: 300_000 } as const;
export const SMALL_AMOUNT = { min: 100, max: 10_000 } as const;
