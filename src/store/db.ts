import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
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

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Prefixed ids ("pay_…", "cons_…") so an id says what it names in logs and tickets. Like a ULID:
 * 10 characters of millisecond time then 16 random ones, in Crockford base32 whose alphabet is in
 * ASCII order, so ids sort by creation time and serve as pagination cursors.
 */
export function newId(prefix: string, now = Date.now()): string {
  let time = '';
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  const random = [...randomBytes(16)].map((b) => CROCKFORD[b % 32]).join('');
  return `${prefix}_${time}${random}`;
}

export type Clock = () => Date;
export const systemClock: Clock = () => new Date();

/** SQLite reports constraint violations by code; this narrows to the UNIQUE case. */
export function isUniqueViolation(e: unknown): boolean {
  return e instanceof Error && 'code' in e && (e as { code: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE';
}
