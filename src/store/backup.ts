import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { existsSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Db } from './db.js';
import type { FieldCrypto } from './field-crypto.js';
import { keyCanaryStatus } from './key-check.js';
import { MIGRATIONS } from './migrations.js';
import { CallpayError } from '../domain/errors.js';
import { fsyncDirectory, moveIntoPlace } from '../billing/atomic-file.js';

/** What a backup or a restored database holds: enough to compare two copies and to trust the ledger. */
export interface DatabaseSummary {
  /** The newest migration applied. */
  schemaVersion: number;
  /** Rows per table. */
  tables: Record<string, number>;
  ledger: {
    accounts: number;
    transfers: number;
    /** Every account's running sums equal what its transfers add up to, and debits equal credits. */
    balanced: boolean;
    /** SHA-256 over the transfers and the accounts' sums, in id order: equal copies, equal checksums. */
    checksum: string;
  };
}

/** Whole database in one backup step: the copy runs in this (CLI) process, under one read snapshot. */
const ALL_PAGES = 0x7fffffff;
/** The tables a callpay database has had since its first migrations. */
const CALLPAY_TABLES = ['schema_migrations', 'meta', 'payments', 'transfers', 'ledger_accounts'];
/** Journal files that belong to a database file by name. */
const SIDE_FILES = ['-wal', '-shm', '-journal'];

/**
 * Copies the database with SQLite's online backup API from a connection of its own. The copy runs
 * inside one read transaction: in WAL mode that pins one snapshot (the daemon keeps writing to the
 * WAL meanwhile, never blocked), so the copy is consistent and never restarts. The result is left
 * in rollback-journal mode: one self-contained file.
 */
export async function copyDatabase(sourcePath: string, destPath: string): Promise<void> {
  const src = new Database(sourcePath, { fileMustExist: true });
  try {
    src.pragma('busy_timeout = 5000');
    src.exec('BEGIN');
    src.prepare('SELECT count(*) FROM sqlite_master').pluck().get(); // starts the read transaction
    await src.backup(destPath, { progress: () => ALL_PAGES });
    src.exec('COMMIT');
  } finally {
    src.close();
  }
  const dest = new Database(destPath, { fileMustExist: true });
  try {
    dest.pragma('journal_mode = DELETE');
  } finally {
    dest.close();
  }
}

/** The summary of a database file, read only. */
export function summarizeFile(path: string): DatabaseSummary {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return summarize(db);
  } finally {
    db.close();
  }
}

/** Row counts and the ledger's consistency and checksum. */
export function summarize(db: Db): DatabaseSummary {
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .pluck()
    .all() as string[];
  const tables: Record<string, number> = {};
  for (const name of names) tables[name] = db.prepare(`SELECT count(*) FROM "${name.replaceAll('"', '""')}"`).pluck().get() as number;
  const schemaVersion = (db.prepare('SELECT coalesce(max(version), 0) FROM schema_migrations').pluck().get() as number) ?? 0;
  return { schemaVersion, tables, ledger: ledgerSummary(db) };
}

function ledgerSummary(db: Db): DatabaseSummary['ledger'] {
  const checksum = new LedgerChecksum();
  // iterate(): one row at a time, so a large ledger is hashed in bounded memory.
  for (const t of db.prepare(LEDGER_TRANSFERS_SQL).raw().iterate()) checksum.transfer(t as LedgerValue[]);
  for (const a of db.prepare(LEDGER_ACCOUNTS_SQL).raw().iterate()) checksum.account(a as LedgerValue[]);
  const problems = db.prepare(LEDGER_PROBLEMS_SQL).pluck().get() as number;
  return { accounts: checksum.accounts, transfers: checksum.transfers, balanced: problems === 0, checksum: checksum.digest() };
}

/** A value of a ledger row as either database hands it back (BIGINT columns as numbers on both). */
export type LedgerValue = string | number | bigint | null;

/** The ledger's columns the checksum covers, in this order; rows in id order (byte order on both databases). */
export const LEDGER_TRANSFERS_SQL =
  'SELECT id, kind, debit_account_id, credit_account_id, amount, currency, pending_id, payment_id, refund_id FROM transfers ORDER BY id';
export const LEDGER_ACCOUNTS_SQL =
  'SELECT id, currency, debits_pending, debits_posted, credits_pending, credits_posted FROM ledger_accounts ORDER BY id';

/**
 * How many ways the ledger fails to balance, in SQL both SQLite and PostgreSQL run: accounts whose
 * four sums differ from what their transfers add up to (posted = topups, posts and refunds; pending
 * = holds not yet posted or voided), plus one if debits and credits differ overall. 0 = balanced.
 */
export const LEDGER_PROBLEMS_SQL = `
  WITH posted AS (SELECT debit_account_id AS d, credit_account_id AS c, amount FROM transfers WHERE kind IN ('topup', 'post', 'refund')),
       open_holds AS (SELECT h.debit_account_id AS d, h.credit_account_id AS c, h.amount FROM transfers h
                      WHERE h.kind = 'hold' AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = h.id)),
       totals AS (SELECT sum(debits_posted) AS dp, sum(credits_posted) AS cp, sum(debits_pending) AS dq, sum(credits_pending) AS cq FROM ledger_accounts)
  SELECT (SELECT count(*) FROM ledger_accounts a WHERE
            a.debits_posted    <> (SELECT coalesce(sum(amount), 0) FROM posted WHERE d = a.id) OR
            a.credits_posted   <> (SELECT coalesce(sum(amount), 0) FROM posted WHERE c = a.id) OR
            a.debits_pending   <> (SELECT coalesce(sum(amount), 0) FROM open_holds WHERE d = a.id) OR
            a.credits_pending  <> (SELECT coalesce(sum(amount), 0) FROM open_holds WHERE c = a.id))
       + (SELECT count(*) FROM totals WHERE dp <> cp OR dq <> cq) AS problems`;

/**
 * The ledger's checksum: SHA-256 over every transfer (LEDGER_TRANSFERS_SQL's columns), then every
 * account's sums (LEDGER_ACCOUNTS_SQL's), each in id order. Fed rows one at a time, from either
 * database: equal ledgers, equal checksums, whichever store holds them.
 */
export class LedgerChecksum {
  private readonly hash = createHash('sha256');
  transfers = 0;
  accounts = 0;

  transfer(row: readonly LedgerValue[]): void {
    if (this.accounts > 0) throw new Error('ledger checksum: every transfer comes before the accounts');
    this.hash.update(`t|${row.map((v) => (v === null ? '' : String(v))).join('|')}\n`);
    this.transfers += 1;
  }

  account(row: readonly LedgerValue[]): void {
    this.hash.update(`a|${row.map(String).join('|')}\n`);
    this.accounts += 1;
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/**
 * Checks a copy before it may become the database: an intact SQLite file, a callpay schema this
 * build knows every migration of, sealed under this key. Reads only. Returns its summary.
 */
export function inspectBackup(path: string, crypto: FieldCrypto): DatabaseSummary {
  let db: Db;
  try {
    db = new Database(path, { fileMustExist: true });
  } catch (e) {
    throw new CallpayError('backup_invalid', `from: cannot open the backup (${sqliteCode(e)})`, 'from');
  }
  try {
    let integrity: string[];
    try {
      integrity = db.prepare('PRAGMA integrity_check').pluck().all() as string[];
    } catch (e) {
      throw new CallpayError('backup_invalid', `from: not an SQLite database (${sqliteCode(e)})`, 'from');
    }
    if (integrity[0] !== 'ok') throw new CallpayError('backup_invalid', `from: the backup fails SQLite's integrity check (${integrity.length} problems)`, 'from');
    const present = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
    const missing = CALLPAY_TABLES.filter((t) => !present.has(t));
    if (missing.length > 0) throw new CallpayError('backup_invalid', `from: not a callpay database (no ${missing.join(', ')} table)`, 'from');
    const known = new Set(MIGRATIONS.map((m) => m.version));
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all() as number[];
    const unknown = versions.filter((v) => !known.has(v));
    if (unknown.length > 0) {
      throw new CallpayError('backup_too_new', `from: made by a newer callpay (migration ${unknown.join(', ')} is unknown to this build, which knows up to ${Math.max(...known)})`, 'from');
    }
    const canary = keyCanaryStatus(db, crypto);
    if (canary === 'missing') throw new CallpayError('backup_invalid', 'from: not a callpay database (no key check)', 'from');
    if (canary === 'mismatch') {
      throw new CallpayError('key_invalid', 'from: the backup was sealed under another master key (restore it with the key file backed up with it)', 'from');
    }
    return summarize(db);
  } finally {
    db.close();
  }
}

/**
 * Puts `staged` (a checked, complete copy in the same directory) in place of the database at
 * `target`, keeping the old file (and any journal files) under `keepAs`. Leaving WAL mode needs the
 * only connection to the file, so any other process with it open (a running daemon, another
 * command) makes this refuse with `database_in_use` before anything moved; the exclusive lock
 * taken then is held until the files have moved.
 */
export function swapInDatabase(target: string, staged: string, keepAs: string): { replaced: boolean } {
  if (!existsSync(target)) {
    moveSideFilesAside(target, keepAs);
    moveIntoPlace(staged, target, { overwrite: false, field: 'database' });
    return { replaced: false };
  }
  const old = claimExclusively(target);
  try {
    renameSync(target, keepAs);
    moveSideFilesAside(target, keepAs);
    renameSync(staged, target);
    fsyncDirectory(dirname(target));
  } finally {
    if (old) {
      if (old.inTransaction) old.exec('ROLLBACK');
      old.close();
    }
  }
  return { replaced: true };
}

/** The current database, locked exclusively; undefined when it is not even a readable database. */
function claimExclusively(target: string): Db | undefined {
  const db = new Database(target, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 1000');
    const mode = db.pragma('journal_mode = DELETE', { simple: true });
    if (mode !== 'delete') throw inUse(target);
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    return db;
  } catch (e) {
    db.close();
    if (e instanceof CallpayError) throw e;
    const code = sqliteCode(e);
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') throw inUse(target);
    // A damaged file (often the reason for a restore) cannot be locked; it is replaced all the same.
    return undefined;
  }
}

function inUse(target: string): CallpayError {
  return new CallpayError('database_in_use', `database: ${target} is open in another process (stop the daemon: systemctl stop callpay); nothing was changed`, 'database');
}

/** A stale -wal next to a new database file would be replayed into it: none may stay behind. */
function moveSideFilesAside(target: string, keepAs: string): void {
  for (const suffix of SIDE_FILES) if (existsSync(target + suffix)) renameSync(target + suffix, keepAs + suffix);
}

function sqliteCode(e: unknown): string {
  return e instanceof Error && 'code' in e ? String((e as { code: unknown }).code) : 'unknown error';
}
