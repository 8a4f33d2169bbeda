import { createHash, createHmac } from 'node:crypto';
import { CallpayError } from '../domain/errors.js';
import { loadSodium, type Sodium } from './sodium.js';

const KDF_CONTEXT = 'callpay1'; // crypto_kdf contexts are exactly 8 bytes
const SUBKEY_BYTES = 32;
// Fixed forever: changing an id changes the subkey and orphans everything derived from it.
const SUBKEY_ID = { seal: 1, blindIndex: 2, pepper: 3, mac: 4 } as const;

/**
 * The subkeys derived from the master key, and the operations that use them. The master key is not
 * kept, and no subkey is reachable from outside (private fields, no getters).
 */
export class Keyring {
  readonly #sodium: Sodium;
  readonly #sealKey: Uint8Array;
  readonly #indexKey: Uint8Array;
  readonly #pepperKey: Buffer;
  readonly #macKey: Buffer;

  private constructor(sodium: Sodium, master: Uint8Array) {
    const derive = (id: number) =>
      sodium.crypto_kdf_derive_from_key(SUBKEY_BYTES, id, KDF_CONTEXT, master);
    this.#sodium = sodium;
    this.#sealKey = derive(SUBKEY_ID.seal);
    this.#indexKey = derive(SUBKEY_ID.blindIndex);
    this.#pepperKey = Buffer.from(derive(SUBKEY_ID.pepper));
    this.#macKey = Buffer.from(derive(SUBKEY_ID.mac));
  }

  static async fromMasterKey(master: Uint8Array): Promise<Keyring> {
    const sodium = await loadSodium();
    if (master.length !== sodium.crypto_kdf_KEYBYTES) {
      throw new CallpayError('key_invalid', `master key must be ${sodium.crypto_kdf_KEYBYTES} bytes`);
    }
    return new Keyring(sodium, master);
  }

  /** nonce || ciphertext. The AAD binds the value to its table/column/row so it cannot be moved. */
  seal(plaintext: string, aad: string): Buffer {
    const s = this.#sodium;
    const nonce = s.randombytes_buf(s.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    const ciphertext = s.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, this.#sealKey);
    return Buffer.concat([nonce, ciphertext]);
  }

  open(sealed: Uint8Array, aad: string): string {
    const s = this.#sodium;
    const nonceBytes = s.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    try {
      if (sealed.length < nonceBytes + s.crypto_aead_xchacha20poly1305_ietf_ABYTES) throw new Error('short');
      const plain = s.crypto_aead_xchacha20poly1305_ietf_decrypt(
        null,
        sealed.subarray(nonceBytes),
        aad,
        sealed.subarray(0, nonceBytes),
        this.#sealKey,
      );
      return Buffer.from(plain).toString('utf8');
    } catch {
      throw new CallpayError('key_invalid', 'sealed value could not be opened: wrong key or tampered data');
    }
  }

  /** Deterministic keyed lookup hash; `value` must already be normalised by the caller. */
  blindIndex(kind: string, value: string): Buffer {
    // The NUL separator keeps (kind, value) pairs unambiguous, so kind must not contain one.
    if (kind.includes('\u0000')) throw new CallpayError('internal', 'blind index kind must not contain NUL');
    return Buffer.from(this.#sodium.crypto_generichash(32, `${kind}\u0000${value}`, this.#indexKey));
  }

  /** Keyed pre-hash for PINs and passwords: a stolen database alone cannot be brute-forced. */
  pepper(secret: string): Buffer {
    return createHmac('sha256', this.#pepperKey).update(secret, 'utf8').digest();
  }

  /**
   * Keyed MAC for tokens callpay hands out and later checks (e.g. a payment's checkout token):
   * nothing to store, and `purpose` keeps one kind of token from passing for another.
   */
  mac(purpose: string, value: string): Buffer {
    if (purpose.includes('\u0000')) throw new CallpayError('internal', 'mac purpose must not contain NUL');
    return createHmac('sha256', this.#macKey).update(`${purpose}\u0000${value}`, 'utf8').digest();
  }

  /** API keys carry 256 random bits, so an unkeyed hash resists guessing on its own. */
  hashToken(token: string): Buffer {
    return createHash('sha256').update(token, 'utf8').digest();
  }
}
