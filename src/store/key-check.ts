import type { Db } from './db.js';
import { aad, type FieldCrypto } from './field-crypto.js';
import { CallpayError } from '../domain/errors.js';

const CANARY = 'callpay key check';
const AAD = aad('meta', 'value', 'key_check');

/**
 * The first key to open a database seals a canary into it; every later open must be able to open
 * it. A wrong key then stops callpay at start instead of failing on the first sealed field (or,
 * worse, writing rows that the right key can no longer read).
 */
export function checkKeyMatches(db: Db, crypto: FieldCrypto): void {
  const row = db.prepare("SELECT value FROM meta WHERE name = 'key_check'").get() as { value: Buffer } | undefined;
  if (!row) {
    db.prepare("INSERT OR IGNORE INTO meta (name, value) VALUES ('key_check', ?)").run(crypto.seal(CANARY, AAD));
    return checkKeyMatches(db, crypto);
  }
  try {
    if (crypto.open(row.value, AAD) === CANARY) return;
  } catch {
    // reported below
  }
  throw new CallpayError('key_invalid', 'master key: this key does not match the database (wrong key file or CALLPAY_MASTER_KEY? during a key rotation the previous key belongs in previousKeyFiles)', 'keyFile');
}

/** Which held key the database's canary is sealed under (the key it had before an unfinished rotation). */
export function keyCanaryKey(db: Db, crypto: FieldCrypto): string {
  const row = db.prepare("SELECT value FROM meta WHERE name = 'key_check'").get() as { value: Buffer } | undefined;
  if (!row) throw new CallpayError('internal', 'the database has no key canary');
  return crypto.openWithId(row.value, AAD).keyId;
}

/** The last step of a key rotation: from now on the database belongs to the current key. */
export function resealCanary(db: Db, crypto: FieldCrypto): void {
  db.prepare("UPDATE meta SET value = ? WHERE name = 'key_check'").run(crypto.seal(CANARY, AAD));
}

/** Whether a database (a backup, say) was sealed under a held key, without writing to it. */
export function keyCanaryStatus(db: Db, crypto: FieldCrypto): 'match' | 'mismatch' | 'missing' {
  const row = db.prepare("SELECT value FROM meta WHERE name = 'key_check'").get() as { value: unknown } | undefined;
  if (!row) return 'missing';
  try {
    return Buffer.isBuffer(row.value) && crypto.open(row.value, AAD) === CANARY ? 'match' : 'mismatch';
  } catch {
    return 'mismatch';
  }
}
