/** What the repositories need from the keyring: sealing, blind indexes and token hashing. */
export interface FieldCrypto {
  seal(plaintext: string, aad: string): Buffer;
  open(sealed: Uint8Array, aad: string): string;
  blindIndex(kind: string, value: string): Buffer;
  hashToken(token: string): Buffer;
}

/** AAD binds a sealed value to its table, column and row: it cannot be copied elsewhere. */
export function aad(table: string, column: string, id: string): string {
  return `${table}/${column}/${id}`;
}
