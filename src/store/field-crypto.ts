/**
 * What the repositories need from the keyring: sealing, blind indexes, token hashing and MACs.
 * Writes use the current master key; reads and lookups also accept the previous ones that a key
 * rotation still holds (`openWithId`, `blindIndexes`, `macs`).
 */
export interface FieldCrypto {
  /** Id of the master key everything new is sealed under. */
  readonly currentId: string;
  /** Every held master key's id, current first. */
  readonly ids: readonly string[];
  seal(plaintext: string, aad: string): Buffer;
  open(sealed: Uint8Array, aad: string): string;
  openWithId(sealed: Uint8Array, aad: string): { plaintext: string; keyId: string };
  blindIndex(kind: string, value: string): Buffer;
  /** The blind index under every configured key, current first. */
  blindIndexes(kind: string, value: string): Buffer[];
  /** The blind index under one configured key (the rotation re-derives stored ones). */
  blindIndexUnder(keyId: string, kind: string, value: string): Buffer;
  hashToken(token: string): Buffer;
  /** Keyed MAC (HMAC-SHA256 under a subkey of the master key); `purpose` separates its uses. */
  mac(purpose: string, value: string): Buffer;
  /** The MAC under every configured key, current first. */
  macs(purpose: string, value: string): Buffer[];
}

/** AAD binds a sealed value to its table, column and row: it cannot be copied elsewhere. */
export function aad(table: string, column: string, id: string): string {
  return `${table}/${column}/${id}`;
}

/** `column IN (?, ?, …)` for a lookup on every configured key's index, and the values to bind. */
export function indexIn(column: string, indexes: readonly Buffer[]): string {
  return `${column} IN (${indexes.map(() => '?').join(', ')})`;
}
