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
  return db;
}

/** Prefixed random ids ("cons_…", "acct_…") so an id says what it names in logs and tickets. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}

export type Clock = () => Date;
export const systemClock: Clock = () => new Date();

/** SQLite reports constraint violations by code; this narrows to the UNIQUE case. */
export function isUniqueViolation(e: unknown): boolean {
  return e instanceof Error && 'code' in e && (e as { code: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE';
}
