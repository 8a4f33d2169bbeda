/** Why a dial ended without an answer. */
export type NotAnswered = 'busy' | 'no_answer' | 'rejected' | 'failed';

/** How a call ended or a dial failed; the CDR outcome. */
export type CallOutcome = 'answered' | NotAnswered | 'hung_up';

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
