// What the merchant side was told (the acknowledged writes and the states it saw), and what it asked
// without an answer. After each restart the database must still hold everything in here.

export const TERMINAL = ['succeeded', 'declined', 'failed', 'expired', 'canceled', 'refunded', 'partially_refunded'] as const;
export const OPEN = ['requires_consumer', 'requires_password', 'calling'] as const;
export const CHARGED = ['succeeded', 'partially_refunded', 'refunded'] as const;

export interface PaymentBody {
  amount: number;
  reference: string;
  description: string;
  return_url: string;
  login_account?: string;
}

export interface RefundBody {
  amount?: number;
  /** The request's Idempotency-Key: one refund per key is checkable in the database. */
  reason: string;
}

/** A POST with an Idempotency-Key, as sent: a lost one is retried verbatim after the restart. */
export interface Sent<B> {
  key: string;
  merchant: number;
  path: string;
  body: B;
}

export interface AckedPayment extends Sent<PaymentBody> {
  id: string;
  /** The status in the 2xx answer. */
  status: string;
  run: number;
}

export interface AckedRefund extends Sent<RefundBody> {
  id: string;
  paymentId: string;
  amount: number;
  run: number;
}

export interface Counters {
  paymentsAcked: number;
  refundsAcked: number;
  cancelsAcked: number;
  refused: number;
  lost: number;
  /** Lost requests retried after a restart: the first had committed (replayed) or had not. */
  lostRetriedCommitted: number;
  lostRetriedNotCommitted: number;
  replaysChecked: number;
  unexpected: number;
}

export class Journal {
  readonly payments = new Map<string, AckedPayment>();
  readonly refunds = new Map<string, AckedRefund>();
  /** payment id → merchant index, for cancels answered 2xx. */
  readonly cancels = new Map<string, number>();
  /** payment id → the last terminal status a GET (or a 2xx) reported. */
  readonly seen = new Map<string, string>();
  /** Charged payments the merchant may refund: id → what it believes is left. */
  readonly refundable = new Map<string, { merchant: number; left: number }>();
  /** Payments waiting for a consumer (no login sent): candidates for a cancel. */
  readonly waiting = new Map<string, number>();
  lostPayments: Sent<PaymentBody>[] = [];
  lostRefunds: Sent<RefundBody>[] = [];
  readonly unexpected: string[] = [];
  readonly counters: Counters = {
    paymentsAcked: 0, refundsAcked: 0, cancelsAcked: 0, refused: 0, lost: 0,
    lostRetriedCommitted: 0, lostRetriedNotCommitted: 0, replaysChecked: 0, unexpected: 0,
  };

  ackPayment(sent: Sent<PaymentBody>, body: { id: string; status: string; amount: number }, run: number): void {
    this.payments.set(sent.key, { ...sent, id: body.id, status: body.status, run });
    this.counters.paymentsAcked++;
    this.observe(body.id, body.status, sent.merchant, body.amount, 0);
    if (body.status === 'requires_consumer') this.waiting.set(body.id, sent.merchant);
  }

  ackRefund(sent: Sent<RefundBody>, body: { id: string; amount: number; payment: { id: string; status: string; amount: number; amount_refunded: number } }, run: number): void {
    this.refunds.set(sent.key, { ...sent, id: body.id, paymentId: body.payment.id, amount: body.amount, run });
    this.counters.refundsAcked++;
    this.observe(body.payment.id, body.payment.status, sent.merchant, body.payment.amount, body.payment.amount_refunded);
  }

  ackCancel(paymentId: string, merchant: number): void {
    this.cancels.set(paymentId, merchant);
    this.counters.cancelsAcked++;
    this.observe(paymentId, 'canceled', merchant, 0, 0);
  }

  /** A status the API reported: terminal ones are remembered, charged ones become refundable. */
  observe(id: string, status: string, merchant: number, amount: number, refunded: number): void {
    if (!(TERMINAL as readonly string[]).includes(status)) return;
    this.seen.set(id, status);
    this.waiting.delete(id);
    if (status === 'succeeded' || status === 'partially_refunded') this.refundable.set(id, { merchant, left: amount - refunded });
    else this.refundable.delete(id);
  }

  unexpectedAnswer(what: string): void {
    this.counters.unexpected++;
    if (this.unexpected.length < 20) this.unexpected.push(what);
  }
}
