import type { Clock } from '../domain/clock.js';

export interface WindowLimit {
  /** Attempts allowed within the window. */
  max: number;
  windowMs: number;
}

/**
 * Sliding-window attempt counter, in memory and bounded: at most `max` timestamps per key and
 * `maxKeys` keys (the oldest key is dropped first). A blocked key unblocks by itself once its oldest
 * attempt leaves the window, so a lockout never outlives the window.
 */
export class AttemptLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(
    private readonly limit: WindowLimit,
    private readonly clock: Clock,
    private readonly maxKeys = 50_000,
  ) {}

  /** Counts an attempt if the key has room left; false (nothing counted) when it is blocked. */
  take(key: string): boolean {
    const list = this.current(key);
    if (list.length >= this.limit.max) return false;
    list.push(this.clock().getTime());
    this.hits.delete(key);
    this.hits.set(key, list); // most recently used last, so eviction drops the stalest key
    while (this.hits.size > this.maxKeys) {
      const oldest = this.hits.keys().next().value;
      if (oldest === undefined) break;
      this.hits.delete(oldest);
    }
    return true;
  }

  blocked(key: string): boolean {
    return this.current(key).length >= this.limit.max;
  }

  /** Gives back the last attempt taken (it turned out to be a success that should not count). */
  refund(key: string): void {
    this.hits.get(key)?.pop();
  }

  clear(key: string): void {
    this.hits.delete(key);
  }

  private current(key: string): number[] {
    const list = this.hits.get(key);
    if (!list) return [];
    const cutoff = this.clock().getTime() - this.limit.windowMs;
    while (list.length > 0 && (list[0] ?? 0) <= cutoff) list.shift();
    if (list.length === 0) this.hits.delete(key);
    return list;
  }
}

/** Takes one attempt from every key, or none when any of them is blocked. */
export function takeAll(pairs: Array<[AttemptLimiter, string]>): boolean {
  if (pairs.some(([limiter, key]) => limiter.blocked(key))) return false;
  for (const [limiter, key] of pairs) limiter.take(key);
  return true;
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
