/** What the repositories need from the keyring: sealing, blind indexes, token hashing and MACs. */
export interface FieldCrypto {
  seal(plaintext: string, aad: string): Buffer;
  open(sealed: Uint8Array, aad: string): string;
  blindIndex(kind: string, value: string): Buffer;
  hashToken(token: string): Buffer;
  /** Keyed MAC (HMAC-SHA256 under a subkey of the master key); `purpose` separates its uses. */
  mac(purpose: string, value: string): Buffer;
}

/** AAD binds a sealed value to its table, column and row: it cannot be copied elsewhere. */
export function aad(table: string, column: string, id: string): string {
  return `${table}/${column}/${id}`;
}
