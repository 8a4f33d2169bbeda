import type { AttemptLimitRepository, Transaction, TransactionPort } from '../payments/repositories.js';

export interface WindowLimit {
  /** Attempts allowed within the window. */
  max: number;
  windowMs: number;
}

/** Where the counts live: the store, so a restart forgives nothing. */
export type LimitStore = TransactionPort & { attemptLimits: AttemptLimitRepository };

/**
 * A sliding-window attempt counter for one scope (e.g. password tries per login), kept in the
 * store under keyed hashes of its keys. A blocked key unblocks by itself once its oldest attempt
 * leaves the window, so a lockout never outlives the window.
 */
export class AttemptLimiter {
  constructor(
    readonly scope: string,
    readonly limit: WindowLimit,
    readonly store: LimitStore,
  ) {}

  /** Counts an attempt if the key has room left; false (nothing counted) when it is blocked. */
  take(key: string): Promise<boolean> {
    return takeAll([[this, key]]);
  }

  async blocked(key: string, repo: AttemptLimitRepository = this.store.attemptLimits): Promise<boolean> {
    return (await repo.count(this.scope, key, this.limit.windowMs)) >= this.limit.max;
  }

  /** Gives back the last attempt taken (it turned out to be a success that should not count). */
  refund(key: string): Promise<void> {
    return this.store.attemptLimits.refund(this.scope, key);
  }

  clear(key: string): Promise<void> {
    return this.store.attemptLimits.clear(this.scope, key);
  }
}

/** Takes one attempt from every key, or none when any of them is blocked: checked and counted in one transaction. */
export async function takeAll(pairs: Array<[AttemptLimiter, string]>): Promise<boolean> {
  const first = pairs[0];
  if (!first) return true;
  return first[0].store.withTransaction(async (tx: Transaction) => {
    for (const [limiter, key] of pairs) if (await limiter.blocked(key, tx.attemptLimits)) return false;
    for (const [limiter, key] of pairs) await tx.attemptLimits.add(limiter.scope, key);
    return true;
  });
}

/** Groups IPv6 clients by /64 (one subscriber's whole prefix); IPv4 and v4-mapped as the address. */
export function clientKey(address: string | undefined): string {
  const a = (address ?? 'unknown').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  if (!a.includes(':')) return a;
  const [head = ''] = a.split('%');
  const halves = head.split('::');
  const left = (halves[0] ?? '').split(':').filter(Boolean);
  const right = halves.length > 1 ? (halves[1] ?? '').split(':').filter(Boolean) : [];
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
