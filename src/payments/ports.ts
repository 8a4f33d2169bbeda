import type { Logger } from '../log.js';
import type { Locale } from '../domain/consumer.js';

/** What the payment service hands the telephone side for one authorization call. */
export interface AuthorizationRequest {
  paymentId: string;
  /** The enrolled number, never one from a request. */
  phone: string;
  locale: Locale;
  merchantSpokenName: string;
  amount: number;
  currency: string;
  /** Checks a keyed PIN off the event loop; the call script never sees the stored hash. */
  verifyPin(pin: string): Promise<boolean>;
  log: Logger;
  signal: AbortSignal;
}

/** Expected call results are values; the engine turns protocol errors into these at its edge. */
export type CallOutcome =
  | { kind: 'approved' }
  | { kind: 'declined' }
  | { kind: 'wrong_pin' }
  | { kind: 'no_input' }
  | { kind: 'busy' }
  | { kind: 'no_answer' }
  | { kind: 'rejected' }
  | { kind: 'hung_up' }
  | { kind: 'failed'; reason: string; sipStatus?: number };

/**
 * The port the payment service calls. `live` is false for any engine that does not place a real
 * telephone call: every payment it touches is marked not live.
 */
export interface CallAuthorizer {
  readonly live: boolean;
  authorize(req: AuthorizationRequest): Promise<CallOutcome>;
  close(): Promise<void>;
}
