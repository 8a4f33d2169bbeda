import * as z from 'zod';

/**
 * Config `selfService`: consumer self-service by calling in (README "11. Self-service by phone"):
 * callpay answers calls to its SIP address, identifies the caller by the enrolled number
 * (P-Asserted-Identity or From, from a trusted trunk only) and the PIN, and offers a menu. Off by
 * default; embedded engine only. Kept out of schema.ts to keep that file readable.
 */

function intIn(min: number, max: number) {
  const error = `an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

export const selfServiceSchema = z.strictObject({
  enabled: z.boolean({ error: 'true or false' }),
  /** How many of the latest charged payments option 1 reads out. */
  recentPayments: intIn(1, 20),
  /** Inbound calls served at once; more are answered busy (486). */
  maxConcurrentCalls: intIn(1, 1000),
  /**
   * Where each change a consumer makes by phone is announced (notify/consumer-hook.ts): a signed POST
   * to the carrier's system, which tells the consumer by text or e-mail. null url = the log only.
   */
  notifyHook: z.strictObject({
    url: z.url({ protocol: /^https?$/, error: 'an http(s) URL or null' }).nullable(),
    /** Absolute path of the signing secrets, one a line, newest first (as risk.hook.secretFile). Needed with a url. */
    secretFile: z.string({ error: 'an absolute file path or null' }).regex(/^\//, { error: 'an absolute file path or null' }).nullable(),
    /** One try, connection to the answer's last byte; the call never waits for it. */
    timeoutMs: intIn(50, 10_000),
  }, { error: 'an object' })
    // Unsigned, the carrier could not tell our "PIN changed" from anyone's: a url without secrets is refused.
    .refine((h) => h.url === null || h.secretFile !== null, { error: 'selfService.notifyHook.url needs selfService.notifyHook.secretFile (the notification is signed)', path: ['secretFile'] }),
}, { error: 'an object' });

/** Only the embedded engine answers calls (no FreeSWITCH recordings of inbound calls exist to build that side from). */
export function selfServiceEngineOk(c: { selfService: { enabled: boolean }; telephony: { engine: string } }): boolean {
  return !c.selfService.enabled || c.telephony.engine === 'embedded';
}

export const SELF_SERVICE_ENGINE_ISSUE = {
  error: 'false unless telephony.engine is "embedded" (self-service calls are answered by the embedded engine only)',
  path: ['selfService', 'enabled'],
};
