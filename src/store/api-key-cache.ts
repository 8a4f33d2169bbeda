import type { Merchant } from '../domain/merchant.js';

/** More distinct keys than any carrier's merchants use at once; past it the cache starts over. */
const MAX_KEYS = 10_000;

/**
 * Merchants by API key for the embedded store, so a merchant's every request does not hash its key
 * and read two tables. An entry is trusted only while nothing can have changed it:
 * - another process (the CLI disabling a merchant or revoking a key) commits: SQLite's
 *   `PRAGMA data_version` on the main connection moves, and the cache starts over;
 * - this process writes merchants or keys: the cache is emptied at the call and again once the
 *   transaction holding the write has ended, and lookups in between go to the database.
 * Unknown keys are never cached (a stranger's guesses cannot fill it).
 */
export class ApiKeyCache {
  private readonly merchants = new Map<string, Merchant>();
  private version: number | undefined;
  /** Bumped by every invalidation: a lookup that started before one does not store its answer. */
  private generation = 0;
  /** Writes from outside a transaction not yet done. */
  private writing = 0;
  /** A write was made in the open transaction (group), which has not ended yet. */
  private inGroup = false;

  constructor(private readonly dataVersion: () => number) {}

  /** The merchant for `apiKey`: from the cache when still valid, else from `load` (and kept). */
  async lookup(apiKey: string, load: (apiKey: string) => Promise<Merchant | undefined>): Promise<Merchant | undefined> {
    if (this.writing > 0 || this.inGroup) return load(apiKey);
    const version = this.dataVersion();
    if (version !== this.version) this.invalidate(version);
    const known = this.merchants.get(apiKey);
    if (known) return known;
    const generation = this.generation;
    const found = await load(apiKey);
    if (found && generation === this.generation) {
      if (this.merchants.size >= MAX_KEYS) this.merchants.clear();
      this.merchants.set(apiKey, found);
    }
    return found;
  }

  /** A write from outside a transaction: the cache is bypassed until it is done, then emptied. */
  async around<T>(write: () => Promise<T>): Promise<T> {
    this.writing++;
    this.invalidate(this.version);
    try {
      return await write();
    } finally {
      this.writing--;
      this.invalidate(this.version);
    }
  }

  /** A write inside the open transaction: the cache is bypassed until the group ends (groupEnded). */
  writtenInGroup(): void {
    this.inGroup = true;
    this.invalidate(this.version);
  }

  /** The group transaction ended, committed or rolled back. */
  groupEnded(): void {
    if (!this.inGroup) return;
    this.inGroup = false;
    this.invalidate(this.version);
  }

  private invalidate(version: number | undefined): void {
    this.merchants.clear();
    this.version = version;
    this.generation++;
  }
}

/**
 * `port` with every method not in `reads` marked as a write to merchants or keys: wrapped in
 * `around` outside a transaction, or holding the cache off until the group ends inside one.
 */
export function markingWrites<T extends object>(port: T, cache: ApiKeyCache, reads: ReadonlySet<string>, inTransaction: boolean): T {
  const out: Record<string, unknown> = { ...(port as Record<string, unknown>) };
  for (const [name, fn] of Object.entries(port) as Array<[string, unknown]>) {
    if (typeof fn !== 'function' || reads.has(name)) continue;
    const write = fn as (...a: unknown[]) => Promise<unknown>;
    out[name] = inTransaction
      ? (...a: unknown[]) => {
          cache.writtenInGroup();
          return write(...a);
        }
      : (...a: unknown[]) => cache.around(() => write(...a));
  }
  return out as T;
}

/** The merchants port with its writes marked and, outside a transaction, the cache in front of `findByApiKey`. */
export function cachingMerchants<T extends { findByApiKey(apiKey: string): Promise<Merchant | undefined> }>(
  repo: T, cache: ApiKeyCache, reads: ReadonlySet<string>, inTransaction: boolean,
): T {
  const out = markingWrites(repo, cache, reads, inTransaction);
  return inTransaction ? out : Object.assign(out, { findByApiKey: (apiKey: string) => cache.lookup(apiKey, (k) => repo.findByApiKey(k)) });
}
