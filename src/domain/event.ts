/** What merchants are told: events, and the webhook deliveries that carry them (the outbox). */

export const EVENT_TYPES = [
  'payment.succeeded', 'payment.declined', 'payment.failed', 'payment.expired', 'payment.canceled', 'refund.succeeded',
  // A fraud report on the call (after its payment.declined), and the merchant disabled by reports.
  'payment.fraud_reported', 'merchant.disabled',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export interface MerchantEvent {
  seq: number;
  id: string;
  merchantId: string;
  type: EventType;
  paymentId: string | null;
  data: Record<string, unknown>;
  createdAt: string;
}

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;

export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** A pending delivery joined with the event it carries. */
export interface DueDelivery {
  id: string;
  merchantId: string;
  url: string;
  attempts: number;
  nextAttemptAt: string;
  giveUpAt: string;
  eventId: string;
  eventType: string;
  eventData: string;
  eventCreatedAt: string;
}

export interface DeliveryInfo {
  id: string;
  eventId: string;
  eventType: string;
  merchantId: string;
  url: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: string;
  giveUpAt: string;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}
