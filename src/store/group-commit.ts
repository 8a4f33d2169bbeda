import type { Db } from './db.js';

/** One caller's unit of work, and where its outcome goes. */
interface Job {
  work: (after: Array<() => void>) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(reason: unknown): void;
}

/** A unit that finished inside the open group: answered once the group's COMMIT returns. */
interface Finished {
  job: Job;
  value: unknown;
  after: Array<() => void>;
}

/**
 * Group commit for the one SQLite connection: the units of work asked for while a group is open
 * (in practice, by the requests that arrived in the same turn of the event loop) run one after
 * another, each in its own SAVEPOINT of one BEGIN IMMEDIATE … COMMIT, so a single WAL fsync makes
 * all of them durable. With synchronous = FULL that fsync is most of a small write's cost.
 *
 * Each caller's promise settles only after the COMMIT that holds its writes has returned (its
 * after-commit work runs first, as before), so nobody is told "done" about something not on disk.
 * A unit that fails is rolled back to its savepoint and rejected at once; the others are unaffected.
 * If the whole transaction is lost (COMMIT fails, or SQLite rolled everything back), every unit of
 * the group still waiting for its answer is rejected with that error.
 */
export class GroupCommit {
  private readonly queue: Job[] = [];
  /** Units done in the open group, or null when no group (transaction) is open. */
  private group: Finished[] | null = null;
  private running = false;
  /** The turn that opened the group has ended: commit once the running unit (if any) is done. */
  private due = false;
  /** Between two groups: statements from outside woken by the last one run before the next BEGIN. */
  private handoff = false;

  constructor(private readonly db: Db, private readonly onIdle: () => void) {}

  /** True while a group transaction is open: statements from outside must wait. */
  get busy(): boolean {
    return this.group !== null || this.running;
  }

  run<T>(work: (after: Array<() => void>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.pump();
    });
  }

  /** Settles once every unit asked for so far has been committed or rejected. */
  async drain(): Promise<void> {
    if (!this.busy && this.queue.length === 0) return;
    await this.run(async () => undefined).catch(() => undefined);
  }

  private pump(): void {
    if (this.running || this.handoff) return;
    if (this.group && this.due) return this.commit();
    const job = this.queue.shift();
    if (!job) {
      if (!this.group) this.onIdle();
      return;
    }
    if (!this.group) {
      try {
        this.db.prepare('BEGIN IMMEDIATE').run();
      } catch (e) {
        job.reject(e);
        return this.pump();
      }
      const group: Finished[] = [];
      this.group = group;
      this.due = false;
      setImmediate(() => {
        if (this.group !== group) return; // that group was already lost
        this.due = true;
        this.pump();
      });
    }
    this.running = true;
    void this.runJob(job, this.group);
  }

  private async runJob(job: Job, group: Finished[]): Promise<void> {
    const after: Array<() => void> = [];
    try {
      this.db.prepare('SAVEPOINT unit').run();
      const value = await job.work(after);
      this.db.prepare('RELEASE unit').run();
      group.push({ job, value, after });
    } catch (e) {
      job.reject(e);
      this.undoUnit(e);
    } finally {
      this.running = false;
    }
    this.pump();
  }

  /** Rolls a failed unit back to its savepoint; if SQLite already dropped the transaction, the group is lost. */
  private undoUnit(cause: unknown): void {
    if (this.db.inTransaction) {
      try {
        this.db.prepare('ROLLBACK TO unit').run();
        this.db.prepare('RELEASE unit').run();
        return;
      } catch (e) {
        cause = e;
      }
    }
    this.abandon(cause);
  }

  private commit(): void {
    const done = this.group ?? [];
    try {
      this.db.prepare('COMMIT').run();
    } catch (e) {
      return this.abandon(e);
    }
    this.group = null;
    this.due = false;
    for (const { job, value, after } of done) {
      try {
        for (const fn of after) fn();
        job.resolve(value);
      } catch (e) {
        job.reject(e);
      }
    }
    this.nextGroup();
  }

  /**
   * Between groups, statements from outside that waited for this one run first (their wake-ups are
   * queued before the next BEGIN), so a steady stream of units cannot starve them.
   */
  private nextGroup(): void {
    this.handoff = true;
    this.onIdle();
    queueMicrotask(() => {
      this.handoff = false;
      this.pump();
    });
  }

  /** The open transaction is gone: roll back what is left and reject every unit that was waiting on it. */
  private abandon(cause: unknown): void {
    const lost = this.group ?? [];
    this.group = null;
    this.due = false;
    if (this.db.inTransaction) {
      try {
        this.db.prepare('ROLLBACK').run();
      } catch { /* the connection reports the original error below */ }
    }
    for (const { job } of lost) job.reject(cause);
    this.nextGroup();
  }
}
