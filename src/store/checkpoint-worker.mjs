// WAL checkpoints for the daemon's SQLite file, on a thread of their own (src/store/checkpointer.ts).
// Plain JavaScript so the same file runs from src/ (vitest, tsx) and from dist/ (tsc copies it).
// A checkpoint copies committed pages from the -wal file into the database and fsyncs it: done by the
// connection that happens to commit, it stalls that commit (and the main thread) for milliseconds.
// PASSIVE never waits for readers or writers and never blocks them; durability is the commits' own.
// In: 'stop'. Out: { error } when a checkpoint fails (reported, then tried again next time).
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { path, everyMs } = workerData;
const db = new Database(path, { fileMustExist: true });
let lastError = '';

const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    lastError = '';
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    if (error !== lastError) parentPort.postMessage({ error });
    lastError = error;
  }
}, everyMs);

parentPort.on('message', (msg) => {
  if (msg !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
