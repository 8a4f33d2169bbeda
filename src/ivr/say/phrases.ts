/**
 * The call script's phrase clips, by what they say. Every locale's manifest has each of them; the
 * texts live in scripts/make-prompts.mjs and in each manifest (an operator may re-record or reword).
 */
export const PHRASES = {
  /** "This is" / 這裡是 — followed by serviceName. */
  thisIs: 'ivr/this-is',
  /** "the callpay payment service." — the carrier names its own service by replacing this clip. */
  serviceName: 'ivr/service-name',
  /** Stands in for a merchant that has no spoken-name clip: "A merchant" / 商家. */
  aMerchant: 'ivr/a-merchant',
  /** After the merchant's name, before the amount: "requests a payment of" / 向您請求付款，金額為. */
  requestsPaymentOf: 'ivr/requests-payment-of',
  /** Ends the announcement: "If you did not start this payment, press 0." (domain/fraud.ts). */
  fraudHint: 'ivr/fraud-hint',
  enterPin: 'ivr/enter-pin',
  approved: 'ivr/approved',
  wrongPin: 'ivr/wrong-pin',
  declined: 'ivr/declined',
  noInput: 'ivr/no-input',
  goodbye: 'ivr/goodbye',
  /** After a fraud report: "Thank you. This payment is declined and has been reported." */
  fraudReported: 'ivr/fraud-reported',
} as const;

export type PhraseClip = (typeof PHRASES)[keyof typeof PHRASES];

/** The greeting: "This is" + the service name. */
export const GREETING: readonly PhraseClip[] = [PHRASES.thisIs, PHRASES.serviceName];
