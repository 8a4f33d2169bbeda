/**
 * Waiting on conditions instead of sleeping: poll until something is observably true, with a
 * deadline, and fail naming what never happened.
 */

export interface WaitOptions {
  /** Give up after this long. Default 5 s. */
  timeoutMs?: number;
  /** Time between two looks. Default 20 ms. */
  intervalMs?: number;
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `condition` until it returns a truthy value (returned), or throws once `timeoutMs` has
 * passed: "timed out after 3000 ms waiting for <what>".
 */
export async function waitFor<T>(what: string, condition: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await pause(opts.intervalMs ?? 20);
  }
}

/** Retries `check` (assertions) until it passes, or rethrows its last failure after `timeoutMs`. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await pause(20);
    }
  }
}

/**
 * A meeting point for `n` concurrent tasks: `arrive()` resolves once all `n` have arrived (so their
 * transactions are open at the same time), or rejects after `timeoutMs`. With n = 1 nobody waits.
 */
export function arrivals(n: number, timeoutMs = 10_000): { arrive(): Promise<void> } {
  let count = 0;
  let open!: () => void;
  const all = new Promise<void>((resolve) => (open = resolve));
  return {
    arrive() {
      count += 1;
      if (count >= n) open();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${n} tasks to meet (${count} came)`)), timeoutMs);
        void all.then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
