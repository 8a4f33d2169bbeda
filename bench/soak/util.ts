// Small helpers of the soak: bounded waits and progress lines on stderr.
import { performance } from 'node:perf_hooks';

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** Resolves with p's value, or with `fallback` after ms. */
export function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<F>((r) => (timer = setTimeout(() => r(fallback), ms)))]).finally(() => clearTimeout(timer));
}

let quiet = false;
export function setQuiet(value: boolean): void {
  quiet = value;
}

export function log(msg: string): void {
  if (!quiet) process.stderr.write(`[soak ${(performance.now() / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
}

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
