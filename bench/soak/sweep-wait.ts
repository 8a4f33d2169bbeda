// After a restart: wait (bounded) until the sweeper has expired every open payment that was due
// when the daemon became ready. What is still there after the bound is reported by the checks.
import Database from 'better-sqlite3';
import { sleep } from './util.js';

export async function waitForSweep(dbFile: string, readyAt: number, boundMs: number): Promise<number> {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const due = db.prepare(
      "SELECT count(*) FROM payments WHERE status IN ('requires_consumer', 'requires_password') AND expires_at <= ?",
    ).pluck();
    const deadline = Date.now() + boundMs;
    for (;;) {
      const left = due.get(new Date(readyAt).toISOString()) as number;
      if (left === 0 || Date.now() > deadline) return left;
      await sleep(100);
    }
  } finally {
    db.close();
  }
}
