// Small helpers of the calls bench.
import { performance } from 'node:perf_hooks';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** Resolves with p's value, or with `fallback` after ms. */
export function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<F>((r) => (timer = setTimeout(() => r(fallback), ms)))]).finally(() => clearTimeout(timer));
}

/** Nearest-rank percentile of unsorted values (NaN when empty). */
export function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}

export function log(msg: string): void {
  process.stderr.write(`[calls ${(performance.now() / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
}
