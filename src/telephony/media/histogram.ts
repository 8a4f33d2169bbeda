/** Percentiles of inter-packet send intervals, in ms. */
export interface IntervalSummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

const BUCKET_MS = 0.05;
const BUCKETS = 2000; // 0-100 ms; longer intervals land in the last bucket (max stays exact)

export interface HistogramExport {
  buckets: Array<[number, number]>;
  maxMs: number;
}

/** Fixed-bucket histogram (0.05 ms buckets): constant memory per call, cheap to add and merge. */
export class IntervalHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private n = 0;
  private maxMs = 0;

  add(ms: number): void {
    const i = Math.min(BUCKETS - 1, Math.max(0, Math.floor(ms / BUCKET_MS)));
    this.counts[i]!++;
    this.n++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** The non-empty buckets as [index, count] pairs, and the exact max: what `add` needs to merge it elsewhere. */
  export(): HistogramExport {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { buckets, maxMs: this.maxMs };
  }

  /** Adds another histogram's export (another media worker's) to this one. */
  merge(other: HistogramExport): void {
    for (const [i, count] of other.buckets) {
      if (!Number.isInteger(i) || i < 0 || i >= BUCKETS) continue;
      this.counts[i]! += count;
      this.n += count;
    }
    if (other.maxMs > this.maxMs) this.maxMs = other.maxMs;
  }

  reset(): void {
    this.counts.fill(0);
    this.n = 0;
    this.maxMs = 0;
  }

  summary(): IntervalSummary {
    return { count: this.n, p50: this.quantile(0.5), p99: this.quantile(0.99), max: round(this.maxMs) };
  }

  /** The midpoint of the bucket holding the q-quantile (0 when empty). */
  private quantile(q: number): number {
    if (this.n === 0) return 0;
    const rank = Math.ceil(q * this.n);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return round(Math.min((i + 0.5) * BUCKET_MS, this.maxMs));
    }
    return round(this.maxMs);
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
