import type { CallAttempt } from '../domain/call.js';
import { replaceRefused } from '../domain/text.js';

/**
 * One call attempt as the merchant API and `callpay call list|show --json` show it: the CDR's times,
 * SIP status and outcome, how many digits were keyed (never which), and the number masked. The
 * reason may quote a peer's SIP reason phrase: control and bidi characters never reach a terminal.
 */
export function callAttemptResource(a: CallAttempt) {
  return {
    object: 'call_attempt' as const,
    payment_id: a.paymentId,
    attempt: a.attempt,
    call_id: replaceRefused(a.callId),
    started_at: a.startedAt,
    answered_at: a.answeredAt,
    ended_at: a.endedAt,
    sip_status: a.sipStatus,
    outcome: a.outcome,
    reason: a.reason === null ? null : replaceRefused(a.reason),
    digit_count: a.digitCount,
    number: a.maskedNumber,
  };
}

export type CallAttemptResource = ReturnType<typeof callAttemptResource>;
