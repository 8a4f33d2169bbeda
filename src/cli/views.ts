import { maskAddress, maskNationalId } from '../domain/consumer.js';
import { maskAccountNumber } from '../domain/account.js';
import { formatMinor } from '../domain/money.js';
import { maskPhone } from '../domain/phone.js';

import { table } from './output.js';
import type { BillableAccount } from '../domain/account.js';
import type { Consumer } from '../domain/consumer.js';
import type { ApiKeyInfo, Merchant } from '../domain/merchant.js';

/** What `show`/`list` print: personal data masked unless the operator asked for --reveal. */
export function consumerView(c: Consumer, reveal: boolean) {
  return {
    id: c.id,
    login: c.login,
    status: c.status,
    locale: c.locale,
    phone: reveal ? c.phone : maskPhone(c.phone),
    national_id: reveal ? c.nationalId : maskNationalId(c.nationalId),
    address: reveal ? c.address : maskAddress(c.address),
    password: c.hasPassword ? 'set' : 'none',
    policy: {
      password_above: c.policy.passwordAbove,
      call_above: c.policy.callAbove,
      frictionless_amount: c.policy.frictionlessAmount,
      frictionless_count: c.policy.frictionlessCount,
    },
    created_at: c.createdAt,
    updated_at: c.updatedAt,
  };
}

export function accountView(a: BillableAccount, reveal: boolean) {
  return {
    id: a.id,
    consumer_id: a.consumerId,
    kind: a.kind,
    number: reveal ? a.number : maskAccountNumber(a.number),
    plan: a.plan,
    currency: a.currency,
    balance: a.plan === 'prepaid' ? a.balance : null,
    credit_limit: a.creditLimit,
    default: a.isDefault,
    created_at: a.createdAt,
  };
}

export function merchantView(m: Merchant, keys?: ApiKeyInfo[]) {
  return {
    id: m.id,
    name: m.displayName,
    spoken_name: m.spokenName,
    webhook_url: m.webhookUrl,
    status: m.status,
    created_at: m.createdAt,
    ...(keys ? { api_keys: keys.map((k) => ({ id: k.id, hint: k.hint, created_at: k.createdAt, revoked_at: k.revokedAt })) } : {}),
  };
}

export function consumerText(v: ReturnType<typeof consumerView>, accounts: BillableAccount[], reveal: boolean): string {
  const p = v.policy;
  const lines = table([
    ['consumer', v.id],
    ['login', v.login],
    ['status', v.status],
    ['locale', v.locale],
    ['phone', v.phone],
    ['national id', v.national_id],
    ['address', v.address],
    ['password', v.password],
    ['policy', `password above ${p.password_above}, call above ${p.call_above}, frictionless ${p.frictionless_amount ?? 'none'} / ${p.frictionless_count ?? 'none'}`],
    ['created', v.created_at],
  ]);
  const accountLines = accounts.map((a) => `  ${accountLine(a, reveal)}`);
  return [lines, `accounts${accountLines.length ? '' : '  none'}`, ...accountLines].join('\n');
}

export function accountLine(a: BillableAccount, reveal: boolean): string {
  const money = a.plan === 'prepaid'
    ? `prepaid, balance ${formatMinor(a.balance, a.currency)}`
    : `postpaid, credit ${formatMinor(a.creditLimit ?? 0, a.currency)} per cycle`;
  const number = reveal ? a.number : maskAccountNumber(a.number);
  return `${a.id}  ${a.kind}  ${number}  ${money}${a.isDefault ? '  (default)' : ''}`;
}
