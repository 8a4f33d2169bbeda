import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { CallpayError } from '../domain/errors.js';
import { loadSodium, type Sodium } from './sodium.js';

const KDF_CONTEXT = 'callpay1'; // crypto_kdf contexts are exactly 8 bytes
const SUBKEY_BYTES = 32;
// Fixed forever: changing an id changes the subkey and orphans everything derived from it.
const SUBKEY_ID = { seal: 1, blindIndex: 2, pepper: 3, mac: 4, keyId: 5 } as const;

/** The subkeys of one master key. The master key itself is not kept. */
interface Generation {
  /** Public name of the master key (16 hex characters): safe to log, store and compare. */
  id: string;
  sealKey: Uint8Array;
  indexKey: Uint8Array;
  pepperKey: Buffer;
  macKey: Buffer;
}

/**
 * The subkeys derived from the master key, and the operations that use them. No subkey is
 * reachable from outside (private fields, no getters).
 *
 * During a key rotation the keyring also holds the previous master keys: everything new is sealed,
 * indexed and MACed under the current key, while values made under a previous one still open,
 * match and verify. `callpay key rotate` moves the stored ones to the current key.
 */
export class Keyring {
  readonly #sodium: Sodium;
  readonly #generations: readonly Generation[];

  private constructor(sodium: Sodium, masters: readonly Uint8Array[]) {
    this.#sodium = sodium;
    this.#generations = masters.map((master) => {
      const derive = (id: number) => sodium.crypto_kdf_derive_from_key(SUBKEY_BYTES, id, KDF_CONTEXT, master);
      return {
        id: Buffer.from(derive(SUBKEY_ID.keyId).subarray(0, 8)).toString('hex'),
        sealKey: derive(SUBKEY_ID.seal),
        indexKey: derive(SUBKEY_ID.blindIndex),
        pepperKey: Buffer.from(derive(SUBKEY_ID.pepper)),
        macKey: Buffer.from(derive(SUBKEY_ID.mac)),
      };
    });
    const ids = this.#generations.map((g) => g.id);
    if (new Set(ids).size !== ids.length) {
      throw new CallpayError('key_invalid', 'previousKeyFiles: a previous master key is the same as the current one or another previous one', 'previousKeyFiles');
    }
  }

  /** `current` seals everything new; `previous` (newest first) only opens and matches what is already stored. */
  static async fromMasterKey(current: Uint8Array, previous: readonly Uint8Array[] = []): Promise<Keyring> {
    const sodium = await loadSodium();
    for (const master of [current, ...previous]) {
      if (master.length !== sodium.crypto_kdf_KEYBYTES) {
        throw new CallpayError('key_invalid', `master key must be ${sodium.crypto_kdf_KEYBYTES} bytes`);
      }
    }
    return new Keyring(sodium, [current, ...previous]);
  }

  /** The current master key's public id. */
  get currentId(): string {
    return this.#current.id;
  }

  /** Every master key's id, current first. */
  get ids(): string[] {
    return this.#generations.map((g) => g.id);
  }

  get #current(): Generation {
    return this.#generations[0]!;
  }

  #generation(keyId: string): Generation {
    const g = this.#generations.find((x) => x.id === keyId);
    if (!g) throw new CallpayError('key_missing', `master key ${keyId} is not configured (keyFile or previousKeyFiles)`, 'previousKeyFiles');
    return g;
  }

  /** nonce || ciphertext, under the current key. The AAD binds the value to its table/column/row so it cannot be moved. */
  seal(plaintext: string, aad: string): Buffer {
    const s = this.#sodium;
    const nonce = s.randombytes_buf(s.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    const ciphertext = s.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, this.#current.sealKey);
    return Buffer.concat([nonce, ciphertext]);
  }

  open(sealed: Uint8Array, aad: string): string {
    return this.openWithId(sealed, aad).plaintext;
  }

  /**
   * Opens a value under whichever configured key sealed it, and says which: the AEAD tag matches
   * under exactly one key (a forgery under two is as hard as breaking Poly1305).
   */
  openWithId(sealed: Uint8Array, aad: string): { plaintext: string; keyId: string } {
    const s = this.#sodium;
    const nonceBytes = s.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    if (sealed.length >= nonceBytes + s.crypto_aead_xchacha20poly1305_ietf_ABYTES) {
      for (const g of this.#generations) {
        try {
          const plain = s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed.subarray(nonceBytes), aad, sealed.subarray(0, nonceBytes), g.sealKey);
          return { plaintext: Buffer.from(plain).toString('utf8'), keyId: g.id };
        } catch {
          // not this key; try the next
        }
      }
    }
    throw new CallpayError('key_invalid', 'sealed value could not be opened: wrong key or tampered data');
  }

  /** Deterministic keyed lookup hash under the current key; `value` must already be normalised by the caller. */
  blindIndex(kind: string, value: string): Buffer {
    return this.#blindIndexWith(this.#current, kind, value);
  }

  /** The lookup hash under every configured key, current first: what a lookup must match during a rotation. */
  blindIndexes(kind: string, value: string): Buffer[] {
    return this.#generations.map((g) => this.#blindIndexWith(g, kind, value));
  }

  /** The lookup hash under one named key (the rotation re-derives stored indexes with it). */
  blindIndexUnder(keyId: string, kind: string, value: string): Buffer {
    return this.#blindIndexWith(this.#generation(keyId), kind, value);
  }

  #blindIndexWith(g: Generation, kind: string, value: string): Buffer {
    // The NUL separator keeps (kind, value) pairs unambiguous, so kind must not contain one.
    if (kind.includes('\u0000')) throw new CallpayError('internal', 'blind index kind must not contain NUL');
    return Buffer.from(this.#sodium.crypto_generichash(32, `${kind}\u0000${value}`, g.indexKey));
  }

  /**
   * Keyed pre-hash for PINs and passwords: a stolen database alone cannot be brute-forced. Under
   * the current key unless `keyId` names the key a stored hash was made under.
   */
  pepper(secret: string, keyId?: string): Buffer {
    const g = keyId === undefined ? this.#current : this.#generation(keyId);
    return createHmac('sha256', g.pepperKey).update(secret, 'utf8').digest();
  }

  /**
   * Keyed MAC for tokens callpay hands out and later checks (e.g. a payment's checkout token):
   * nothing to store, and `purpose` keeps one kind of token from passing for another.
   */
  mac(purpose: string, value: string): Buffer {
    return this.#macWith(this.#current, purpose, value);
  }

  /** The MAC under every configured key, current first: a token handed out before a rotation still checks. */
  macs(purpose: string, value: string): Buffer[] {
    return this.#generations.map((g) => this.#macWith(g, purpose, value));
  }

  #macWith(g: Generation, purpose: string, value: string): Buffer {
    if (purpose.includes('\u0000')) throw new CallpayError('internal', 'mac purpose must not contain NUL');
    return createHmac('sha256', g.macKey).update(`${purpose}\u0000${value}`, 'utf8').digest();
  }

  /** API keys carry 256 random bits, so an unkeyed hash resists guessing on its own. */
  hashToken(token: string): Buffer {
    return createHash('sha256').update(token, 'utf8').digest();
  }
}

/** Whether `given` equals any of `candidates`, in time independent of which (lengths are public). */
export function matchesAny(given: Buffer, candidates: readonly Buffer[]): boolean {
  let found = false;
  for (const c of candidates) found = (c.length === given.length && timingSafeEqual(c, given)) || found;
  return found;
}
