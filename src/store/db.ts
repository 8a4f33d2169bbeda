import Database from 'better-sqlite3';
import { closeSync, openSync } from 'node:fs';
import { applyMigrations } from './migrations.js';

export type Db = Database.Database;

/**
 * Opens (creating if needed) the one SQLite file and brings its schema up to date.
 * WAL lets the HTTP intake read while a payment writes; synchronous=FULL because an accepted
 * payment or a posted charge must survive a power cut.
 */
export function openDatabase(path: string): Db {
  // Created owner-only: SQLite gives its -wal and -shm files the same mode.
  if (path !== ':memory:') closeSync(openSync(path, 'a', 0o600));
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  applyMigrations(db);
  cacheStatements(db);
  return db;
}

/**
 * A second, read-only connection to the same (already migrated) file, for reads that would otherwise
 * wait for an open write transaction: under WAL a reader sees the last commit and never blocks the writer.
 */
export function openReader(path: string): Db {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  cacheStatements(db);
  return db;
}

const STATEMENT_CACHE_LIMIT = 500;

/**
 * better-sqlite3 compiles SQL on every prepare(); the repositories prepare per call for
 * readability, so the compiled statements are kept here by their text. A cached statement is handed
 * back with its modes reset, since pluck()/raw()/expand() stick to the statement object.
 */
function cacheStatements(db: Db): void {
  const cache = new Map<string, Database.Statement>();
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    let stmt = cache.get(sql);
    if (!stmt) {
      stmt = prepare(sql);
      if (cache.size >= STATEMENT_CACHE_LIMIT) cache.clear();
      cache.set(sql, stmt);
    } else if (stmt.reader) {
      stmt.pluck(false).expand(false).raw(false);
    }
    return stmt;
  }) as Db['prepare'];
}

/** SQLite reports constraint violations by code; this narrows to the UNIQUE case. */
export function isUniqueViolation(e: unknown): boolean {
  return e instanceof Error && 'code' in e && (e as { code: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE';
}
