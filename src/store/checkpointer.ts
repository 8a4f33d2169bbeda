import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import type { Db } from './db.js';

/** SQLite's own default: the committing connection checkpoints once the WAL holds this many pages. */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;
/** While checkpoints run in the background, the committing connection steps in only past this (~40 MiB). */
const BACKSTOP_PAGES = 10_000;

export interface BackgroundCheckpoints {
  stop(): Promise<void>;
}

/**
 * Moves the daemon's WAL checkpoints to a worker thread (checkpoint-worker.mjs: a PASSIVE checkpoint
 * every `everyMs`), so that a commit on the main thread is a WAL append and its fsync, never also the
 * copy of a thousand pages into the database file and that file's fsync. The main connection keeps a
 * backstop (it checkpoints itself past BACKSTOP_PAGES, and at SQLite's default again when the worker
 * is gone), so the WAL stays bounded whatever happens to the worker. synchronous = FULL is untouched:
 * a commit is on disk when it returns, as before.
 */
export function startBackgroundCheckpoints(db: Db, path: string, o: { log: Logger; everyMs?: number }): BackgroundCheckpoints {
  const worker = new Worker(new URL('./checkpoint-worker.mjs', import.meta.url), { workerData: { path, everyMs: o.everyMs ?? 200 } });
  worker.unref();
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  const backToDefault = () => {
    if (db.open) db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
  };
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('message', (m: { error?: string }) => o.log.warn({ error: m.error }, 'background WAL checkpoint failed; retrying'));
  worker.on('error', (e) => {
    o.log.warn({ err: e }, 'background WAL checkpoints stopped: the database connection checkpoints on its own again');
    backToDefault();
  });
  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        worker.postMessage('stop');
        const timer = setTimeout(() => void worker.terminate(), 2_000);
        await exited;
        clearTimeout(timer);
        backToDefault();
      })();
      return stopping;
    },
  };
}
