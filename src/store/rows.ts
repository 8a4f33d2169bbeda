import { aad, type FieldCrypto } from './field-crypto.js';
import { parseLocale, type Consumer, type ConsumerStatus } from '../domain/consumer.js';
import type { FailureCode, Payment, PaymentStatus } from '../domain/payment.js';
import type { Decision } from '../domain/policy.js';
import type { Merchant, MerchantStatus } from '../domain/merchant.js';
import type { EventType, MerchantEvent } from '../domain/event.js';

/**
 * Rows as both stores read them (the same tables and columns: test/pg-schema.test.ts) and the domain
 * objects they make, so the SQLite and PostgreSQL repositories cannot drift apart in what they return.
 */

export interface PaymentRow {
  id: string;
  merchant_id: string;
  amount: number;
  currency: string;
  reference: string;
  description: string;
  return_url: string;
  metadata: string;
  consumer_id: string | null;
  billable_account_id: string | null;
  status: PaymentStatus;
  decision: string | null;
  failure_code: FailureCode | null;
  /** 0 or 1 (an INTEGER flag in both stores). */
  live: number;
  amount_refunded: number;
  authorized_at: string | null;
  expires_at: string;
  created_at: string;
  updated_at: string;
}

export function paymentOf(row: PaymentRow): Payment {
  return {
    id: row.id,
    merchantId: row.merchant_id,
    amount: row.amount,
    currency: row.currency,
    reference: row.reference,
    description: row.description,
    returnUrl: row.return_url,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    consumerId: row.consumer_id,
    billableAccountId: row.billable_account_id,
    status: row.status,
    decision: row.decision === null ? null : (JSON.parse(row.decision) as Decision),
    failureCode: row.failure_code,
    live: row.live === 1,
    amountRefunded: row.amount_refunded,
    authorizedAt: row.authorized_at,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface ConsumerRow {
  id: string;
  login_sealed: Buffer;
  phone_sealed: Buffer;
  national_id_sealed: Buffer;
  address_sealed: Buffer;
  password_hash: string | null;
  locale: string;
  password_above: number;
  call_above: number;
  frictionless_amount: number | null;
  frictionless_count: number | null;
  status: ConsumerStatus;
  created_at: string;
  updated_at: string;
}

/** Opens the sealed fields (under whichever held key sealed them). */
export function consumerOf(row: ConsumerRow, c: FieldCrypto): Consumer {
  const T = 'consumers';
  return {
    id: row.id,
    login: c.open(row.login_sealed, aad(T, 'login', row.id)),
    phone: c.open(row.phone_sealed, aad(T, 'phone', row.id)),
    nationalId: c.open(row.national_id_sealed, aad(T, 'national_id', row.id)),
    address: c.open(row.address_sealed, aad(T, 'address', row.id)),
    // The schema leaves the locale list to the application (SQLite migration 004): a row edited by
    // hand to an unknown one fails here, naming the column, rather than mid-call.
    locale: parseLocale(row.locale, 'consumers.locale'),
    status: row.status,
    policy: {
      passwordAbove: row.password_above,
      callAbove: row.call_above,
      frictionlessAmount: row.frictionless_amount,
      frictionlessCount: row.frictionless_count,
    },
    hasPassword: row.password_hash !== null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface MerchantRow {
  id: string;
  display_name: string;
  spoken_name: string;
  webhook_url: string | null;
  voice_clip: string | null;
  status: MerchantStatus;
  created_at: string;
  updated_at: string;
}

export function merchantOf(row: MerchantRow): Merchant {
  return {
    id: row.id,
    displayName: row.display_name,
    spokenName: row.spoken_name,
    webhookUrl: row.webhook_url,
    voiceClip: row.voice_clip,
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface EventRow {
  seq: number;
  id: string;
  merchant_id: string;
  type: EventType;
  payment_id: string | null;
  data: string;
  created_at: string;
}

export function eventOf(row: EventRow): MerchantEvent {
  return {
    seq: row.seq,
    id: row.id,
    merchantId: row.merchant_id,
    type: row.type,
    paymentId: row.payment_id,
    data: JSON.parse(row.data) as Record<string, unknown>,
    createdAt: row.created_at,
  };
}
