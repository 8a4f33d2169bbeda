import type { Logger } from '../log.js';
import type { Locale } from '../domain/consumer.js';
import type { CallRecord } from '../telephony/engine.js';
import type { CallProgress } from './progress.js';

/** What the payment service hands the telephone side for one authorization call. */
export interface AuthorizationRequest {
  paymentId: string;
  /** The enrolled number, never one from a request. */
  phone: string;
  locale: Locale;
  merchantSpokenName: string;
  /** A recorded or synthesized clip of the merchant's name, if the operator provided one. */
  merchantVoiceClip: string | null;
  amount: number;
  currency: string;
  /** Retries stop before this time (the payment's expiry). */
  deadline: Date;
  /**
   * Checks a keyed PIN off the event loop; the call script never sees the stored hash. 'locked'
   * means this wrong PIN reached the consumer's limit: the call must end.
   */
  verifyPin(pin: string): Promise<PinCheck>;
  /**
   * Asked before every dial attempt, retries included: null = dial; otherwise why not (a toll-fraud
   * cap is reached) and the authorization ends as `call_limit` without dialling.
   */
  mayDial(attempt: number): Promise<string | null>;
  /** Called with each dial attempt's call record, as it starts and when it ends. */
  onAttempt(attempt: number, record: CallRecord): void;
  /** Call progress for the consumer's checkout page (dialing, ringing, answered, not answered). */
  onProgress(progress: CallProgress): void;
  log: Logger;
  signal: AbortSignal;
}

export type PinCheck = 'ok' | 'wrong' | 'locked';

/** Expected call results are values; the engine turns protocol errors into these at its edge. */
export type CallOutcome =
  | { kind: 'approved' }
  | { kind: 'declined' }
  /** The consumer keyed 0: they did not start this payment (domain/fraud.ts isFraudReportEntry). */
  | { kind: 'fraud_reported' }
  | { kind: 'wrong_pin' }
  | { kind: 'locked' }
  | { kind: 'no_input' }
  | { kind: 'busy' }
  | { kind: 'no_answer' }
  | { kind: 'rejected' }
  | { kind: 'hung_up' }
  | { kind: 'failed'; reason: string; sipStatus?: number }
  | { kind: 'call_limit'; reason: string }
  /** The engine lost an answered call (its media server or control connection went away). */
  | { kind: 'interrupted'; reason: string }
  /** The phone's media stopped mid-call (RTP inactivity timeout): the engine hung up. */
  | { kind: 'media_timeout' }
  /** The call was forwarded away from the enrolled line (risk.sipForwarding = refuse): nothing was announced. */
  | { kind: 'forwarded'; reason: string };

/**
 * The port the payment service calls. `live` is false for any engine that does not place a real
 * telephone call: every payment it touches is marked not live.
 */
export interface CallAuthorizer {
  readonly live: boolean;
  authorize(req: AuthorizationRequest): Promise<CallOutcome>;
  close(): Promise<void>;
}

/** What the pre-dial check is told about the call about to be placed. */
export interface PreDialSubject {
  paymentId: string;
  merchantId: string;
  /** The enrolled number: for the carrier's own lookup, never for a log. */
  phone: string;
  amount: number;
  currency: string;
  live: boolean;
}

/**
 * allow: dial. require_password: dial only once the payment has passed the password step (else it
 * goes back to that step first). refuse: end the payment without dialling. `failed`: no usable
 * answer (the action is then the configured fail-open/fail-closed one). `reason` has no number in it.
 */
export interface PreDialVerdict {
  action: 'allow' | 'require_password' | 'refuse';
  failed: boolean;
  reason: string;
}

/** Asked once before an authorization call dials its first attempt (the pre-dial risk check). */
export interface PreDialCheck {
  check(subject: PreDialSubject, log: Logger, signal: AbortSignal): Promise<PreDialVerdict>;
}
