/**
 * Messages a test peer received, handed out by predicate: to a waiter already asking, else kept
 * until one asks. Waiting is bounded.
 */
export class Inbox<T> {
  private readonly queue: T[] = [];
  private readonly waiters: Array<{ pred: (r: T) => boolean; resolve: (r: T) => void }> = [];

  constructor(private readonly who: string) {}

  push(r: T): void {
    const i = this.waiters.findIndex((w) => w.pred(r));
    const waiter = i >= 0 ? this.waiters.splice(i, 1)[0] : undefined;
    if (waiter) waiter.resolve(r);
    else this.queue.push(r);
  }

  next(pred: (r: T) => boolean, timeoutMs = 3000): Promise<T> {
    const i = this.queue.findIndex(pred);
    const queued = i >= 0 ? this.queue.splice(i, 1)[0] : undefined;
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = { pred, resolve: (r: T) => (clearTimeout(timer), resolve(r)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${this.who} waited in vain`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}
