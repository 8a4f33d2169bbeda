/**
 * Why a dial ended without an answer (callpay's own ending). `forwarded`: the network showed the call
 * was forwarded away from the enrolled line (181, Diversion, History-Info) and `risk.sipForwarding` is
 * refuse, so callpay cancelled it, or hung up on the answer before anything was said.
 */
export type NotAnswered = 'busy' | 'no_answer' | 'rejected' | 'failed' | 'forwarded';

/**
 * How a call ended or a dial failed: the CDR outcomes (and the API's list of them). `machine_detected`:
 * an answering machine answered (the greeting screen), hung up on before anything was said.
 */
export const CALL_OUTCOMES = ['answered', 'busy', 'no_answer', 'rejected', 'failed', 'hung_up', 'machine_detected', 'forwarded'] as const;
export type CallOutcome = (typeof CALL_OUTCOMES)[number];

/** CallRecord.reason of a call the engine ended because the phone sent no media (RTP inactivity timeout). */
export const MEDIA_TIMEOUT = 'media_timeout';

/** One call attempt's record (CDR). Never the digits, never the full number. */
export interface CallRecord {
  callId: string;
  startedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  /**
   * 'answered' while up; after hang-up: 'answered' if we ended it, 'hung_up' if the phone did, 'failed'
   * if the call was lost (reason MEDIA_TIMEOUT: the phone's media stopped).
   */
  outcome: CallOutcome;
  sipStatus: number | null;
  reason: string | null;
  /** Digits received (count only). */
  digitCount: number;
}

/** A call attempt as merchants and operators see it: its CDR, its payment, the number masked. */
export interface CallAttempt extends CallRecord {
  paymentId: string;
  merchantId: string;
  attempt: number;
  /** The number dialled, masked ("+886 9** *** 678"); null when the consumer's number changed since. */
  maskedNumber: string | null;
}

/** Which call attempts to read: one payment's (by attempt) or the newest across payments. */
export interface CallAttemptFilter {
  paymentId?: string;
  /** ISO 8601 instant: attempts started at or after it. */
  since?: string;
  limit: number;
}
