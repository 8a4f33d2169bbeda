import type { SecretHasher } from '../crypto/secret-hasher.js';
import type { Logger } from '../log.js';
import type { ConsumerRepository } from './repositories.js';

export interface RehashDeps {
  hasher: Pick<SecretHasher, 'hash' | 'needsRehash'>;
  consumers: Pick<ConsumerRepository, 'replaceSecretHash'>;
  log: Logger;
}

/**
 * After a PIN or password checked out against a hash made under a previous master key, makes it
 * again under the current one: the only moment the secret is at hand, so the only way a key
 * rotation reaches PINs and passwords. Runs in the background (an Argon2id hash); a failure only
 * leaves the old hash in place for next time.
 */
export function rehashIfStale(d: RehashDeps, consumerId: string, which: 'pin' | 'password', secret: string, stored: string): void {
  if (!d.hasher.needsRehash(stored)) return;
  void d.hasher
    .hash(secret)
    .then((next) => d.consumers.replaceSecretHash(consumerId, which, stored, next))
    .then((replaced) => d.log.info({ consumerId, which, replaced }, 'secret hash moved to the current master key'))
    .catch((e: unknown) => d.log.warn({ consumerId, which, err: e instanceof Error ? e.message : String(e) }, 'could not move a secret hash to the current master key'));
}
