/** Why a dial ended without an answer. */
export type NotAnswered = 'busy' | 'no_answer' | 'rejected' | 'failed';

/** How a call ended or a dial failed; the CDR outcome. */
export type CallOutcome = 'answered' | NotAnswered | 'hung_up';

/** One call attempt's record (CDR). Never the digits, never the full number. */
export interface CallRecord {
  callId: string;
  startedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  /** 'answered' while up; after hang-up: 'answered' if we ended it, 'hung_up' if the phone did. */
  outcome: CallOutcome;
  sipStatus: number | null;
  reason: string | null;
  /** Digits received (count only). */
  digitCount: number;
}
