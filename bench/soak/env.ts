// The configuration of the daemon under test (and of the CLI that prepares its database), as
// CALLPAY_* environment variables: loopback only, short timers, caps out of the way.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Whole seconds; the schema's minimum. Open payments from one run expire during a later one. */
export const EXPIRES_IN_SECONDS = 60;
export const SWEEP_INTERVAL_MS = 200;
/** The daemon's built-in grace for a payment still in its call past expiry (wiring/daemon.ts). */
export const CALL_GRACE_MS = 300_000;

/** Settings shared by `callpay serve` and the CLI commands run on the same database. */
export function baseEnv(): Record<string, string> {
  return {
    CALLPAY_LOG_LEVEL: 'warn',
    CALLPAY_ARGON2_WORKERS: '1',
    // call-less payments for the "small", "tight" and "credit" consumers: the allowance as large as allowed
    CALLPAY_POLICY_CEILINGS_TWD_FRICTIONLESS_MAX_AMOUNT: '1000000000000',
    CALLPAY_POLICY_CEILINGS_TWD_FRICTIONLESS_MAX_COUNT: '1000',
  };
}

export interface ServeEnvInput {
  /** The phones' sipp, "127.0.0.1:<port>". */
  phones: string;
  rtp: { portMin: number; portMax: number };
  /** optionalEnv() of the build under test. */
  optional: Record<string, string>;
}

/**
 * Settings that not every build has (added while the soak was written): set only when the build
 * under test knows them, since callpay refuses an unknown CALLPAY_* variable.
 */
const IF_KNOWN: ReadonlyArray<[path: string, env: string, value: string]> = [
  ['ivr.maxCallsPerNumberPerHour', 'CALLPAY_IVR_MAX_CALLS_PER_NUMBER_PER_HOUR', '1000'],
];

/** The IF_KNOWN settings that `launcher`'s build (its ../config/default.json) has. */
export function optionalEnv(launcher: string): Record<string, string> {
  const defaults = JSON.parse(readFileSync(join(dirname(dirname(launcher)), 'config', 'default.json'), 'utf8')) as Record<string, unknown>;
  const has = (path: string) => path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), defaults) !== undefined;
  return Object.fromEntries(IF_KNOWN.filter(([path]) => has(path)).map(([, env, value]) => [env, value]));
}

export function serveEnv(input: ServeEnvInput): Record<string, string> {
  return {
    ...input.optional,
    ...baseEnv(),
    CALLPAY_HTTP_HOST: '127.0.0.1',
    CALLPAY_HTTP_PORT: '0',
    CALLPAY_ADMIN_PORT: '0',
    CALLPAY_TELEPHONY_ENGINE: 'embedded',
    CALLPAY_TELEPHONY_SIP_BIND_HOST: '127.0.0.1',
    CALLPAY_TELEPHONY_SIP_BIND_PORT: '0',
    CALLPAY_TELEPHONY_SIP_REQUEST_URI: `sip:{number}@${input.phones}`,
    CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000',
    CALLPAY_TELEPHONY_RTP_BIND_HOST: '127.0.0.1',
    CALLPAY_TELEPHONY_RTP_PORT_MIN: String(input.rtp.portMin),
    CALLPAY_TELEPHONY_RTP_PORT_MAX: String(input.rtp.portMax),
    CALLPAY_PAYMENTS_EXPIRES_IN_SECONDS: String(EXPIRES_IN_SECONDS),
    CALLPAY_PAYMENTS_SWEEP_INTERVAL_MS: String(SWEEP_INTERVAL_MS),
    CALLPAY_IVR_PIN_TRIES: '2',
    CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '6000',
    CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '3000',
    CALLPAY_IVR_RETRY_ATTEMPTS: '1',
    CALLPAY_IVR_RETRY_DELAY_MS: '300',
    CALLPAY_IVR_LOCKOUT_ATTEMPTS: '100',
    CALLPAY_IVR_MAX_CALLS_PER_CONSUMER_PER_HOUR: '1000',
    CALLPAY_IVR_MAX_CALLS_PER_MERCHANT_PER_HOUR: '1000000',
    CALLPAY_RATE_LIMIT_PER_SECOND: '100000',
    CALLPAY_RATE_LIMIT_BURST: '100000',
  };
}
