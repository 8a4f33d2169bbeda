/**
 * Key rotation (issue 13, item 6): what is stored under which master key. Keys are named by their
 * public ids (a hash of the key, 16 hex characters), never by anything that reveals them.
 */
export interface KeyStatus {
  /** The key everything new is sealed under. */
  currentKey: string;
  /** Every key this process holds, current first. */
  heldKeys: string[];
  /** The key the database's canary is sealed under: the current one once a rotation has finished. */
  databaseKey: string;
  /** Sealed values and blind indexes not yet under the current key, by "table.column" (zero ones left out). */
  pending: Record<string, number>;
  /**
   * PIN and password hashes by the key whose pepper went in ("untagged": made before hashes named
   * their key). They move to the current key at each consumer's next successful entry.
   */
  secretHashes: Record<string, number>;
  /** Dials whose number a rotation could not re-key (the consumer has changed number since). */
  dialsWithoutNumber: number;
}

/** Where a rotation pass stands: which table, and the last row id done in it. */
export interface RekeyCursor {
  step: number;
  after: string | number | null;
}

/** The store's part of a key rotation; each batch is one short transaction, so a kill loses nothing. */
export interface KeyMaintenance {
  status(): Promise<KeyStatus>;
  /** Moves up to `limit` rows to the current key; `next` is null when the pass is done. */
  rekeyBatch(cursor: RekeyCursor | null, limit: number): Promise<{ changed: number; next: RekeyCursor | null }>;
  /** Seals the canary under the current key when nothing is pending; whether it did. */
  finish(): Promise<boolean>;
}
