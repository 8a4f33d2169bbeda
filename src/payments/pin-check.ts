import type { Logger } from '../log.js';
import type { Store } from './repositories.js';
import type { SecretVerifier } from './service.js';
import { rehashIfStale } from './rehash.js';

export type PinVerdict = 'ok' | 'wrong' | 'locked';

export interface PinCheckDeps {
  store: Store;
  hasher: SecretVerifier;
  log: Logger;
  /** Wrong PINs (across calls, in and out) within the window that lock the consumer. */
  lockout: { attempts: number; windowMs: number };
}

/**
 * A PIN keyed on a call, whichever way the call went (the authorization call, a self-service call):
 * checked off the event loop; a right one clears the consumer's wrong-PIN count (and re-hashes a stale
 * hash), a wrong one is counted, and reaching the limit locks the consumer, in one transaction.
 * `lockedBy`: when given, the lockout is also written to the audit log with this reason.
 */
export async function checkPinWithLockout(d: PinCheckDeps, consumerId: string, paymentId: string | null, pin: string, lockedBy?: string): Promise<PinVerdict> {
  const { store, hasher, log } = d;
  const stored = await store.consumers.pinHash(consumerId);
  if (await hasher.verify(pin, stored)) {
    await store.callRecords.clearPinFailures(consumerId);
    rehashIfStale({ hasher, consumers: store.consumers, log }, consumerId, 'pin', pin, stored);
    return 'ok';
  }
  return store.withTransaction(async (tx) => {
    const failures = await tx.callRecords.recordPinFailure(consumerId, paymentId, d.lockout.windowMs);
    if (failures < d.lockout.attempts) return 'wrong';
    const consumer = await tx.consumers.get(consumerId);
    if (consumer.status === 'active') await tx.consumers.setStatus(consumerId, 'locked');
    if (lockedBy !== undefined && consumer.status !== 'closed') {
      await tx.audit.append({ actor: 'pin-lockout', action: 'consumer.lock', subject: consumerId, details: { reason: lockedBy, failures } });
    }
    log.warn({ consumerId, paymentId, failures }, 'consumer locked after too many wrong PINs');
    return 'locked';
  });
}
