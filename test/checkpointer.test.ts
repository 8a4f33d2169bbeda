import { statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/cli.js';
import { eventually } from './helpers/wait.js';
import { openDatabase, type Db } from '../src/store/db.js';
import { startBackgroundCheckpoints } from '../src/store/checkpointer.js';

const log = pino({ level: 'silent' });

/**
 * WAL checkpoints on a thread of their own (store/checkpointer.ts), on a real SQLite file: the pages
 * committed on the main connection reach the database file without that connection checkpointing.
 */
describe('background WAL checkpoints', () => {
  let dir: ReturnType<typeof tempDir>;
  let path: string;
  let db: Db;

  beforeEach(() => {
    dir = tempDir();
    path = join(dir.path, 'callpay.db');
    db = openDatabase(path);
    db.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT');
  });
  afterEach(() => {
    if (db.open) db.close();
    dir.remove();
  });

  /** 1,200 commits of one ~4 KB row each: past SQLite's own 1,000-page checkpoint threshold. */
  function writeMany(): void {
    const insert = db.prepare('INSERT INTO filler (body) VALUES (?)');
    for (let i = 0; i < 1200; i++) insert.run('x'.repeat(4000));
  }

  it('copies committed pages into the database file from the worker, with the main connection past its own threshold untouched', async () => {
    const before = statSync(path).size;
    const checkpoints = startBackgroundCheckpoints(db, path, { log, everyMs: 20 });
    try {
      expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(10_000);
      writeMany();
      // The main connection did not checkpoint (its threshold is the backstop), yet the file grows: the worker did.
      await eventually(() => expect(statSync(path).size).toBeGreaterThan(before + 4_000_000), 10_000);
    } finally {
      await checkpoints.stop();
    }
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    expect(db.prepare('SELECT count(*) FROM filler').pluck().get()).toBe(1200);
  });

  it('stops in bounded time, and stopping twice is one stop', async () => {
    const checkpoints = startBackgroundCheckpoints(db, path, { log, everyMs: 20 });
    const started = Date.now();
    await Promise.all([checkpoints.stop(), checkpoints.stop()]);
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
