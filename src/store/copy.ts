import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { CallpayError } from '../domain/errors.js';
import type { Db } from './db.js';
import type { FieldCrypto } from './field-crypto.js';
import { keyCanaryStatus } from './key-check.js';
import { MIGRATIONS } from './migrations.js';
import {
  LEDGER_ACCOUNTS_SQL, LEDGER_PROBLEMS_SQL, LEDGER_TRANSFERS_SQL, LedgerChecksum, summarize,
  type DatabaseSummary, type LedgerValue,
} from './backup.js';
import { openPgPool, queryOne, queryRows, withPgTransaction, type PgPool, type PgQueryable, type PgValue } from './pg/db.js';
import { PG_MIGRATIONS, applyPgMigrations, pgSchemaVersion } from './pg/migrations.js';

/**
 * `callpay store copy`: an appliance's SQLite database into an empty PostgreSQL one. Rows are copied
 * as stored: sealed values and blind indexes byte for byte (never opened: the key only has to open
 * the source's canary, which is copied with `meta`), ids and sequence numbers kept.
 */

export interface CopyOptions {
  /** The SQLite file. */
  from: string;
  /** The PostgreSQL URL with its password. */
  toUrl: string;
  /** The same URL as shown to the operator (without a password). */
  toLabel: string;
  crypto: FieldCrypto;
  /** Rows per INSERT and per read from the source. Default 500. */
  batchRows?: number;
  /** After each batch is written into the (uncommitted) target. */
  onBatch?(table: string, copied: number): void;
}

export interface CopyReport {
  /** Tables in the order copied (parents before children) and their rows. */
  tables: Array<{ name: string; rows: number }>;
  sourceVersion: number;
  targetVersion: number;
  /** The source's ledger; the target's was found equal to it (counts and checksum). */
  ledger: DatabaseSummary['ledger'];
}

/** PostgreSQL binds at most 65535 parameters per statement. */
const MAX_PARAMS = 65_535;
/** Bookkeeping of each database's own migrations: never copied (the numbers differ). */
const NOT_COPIED = 'schema_migrations';

export async function copySqliteToPostgres(o: CopyOptions): Promise<CopyReport> {
  const batchRows = o.batchRows ?? 500;
  const source = openSource(o.from);
  try {
    const pool = openPgPool({ url: o.toUrl, max: 2 });
    try {
      return await copyInto(source, pool, o, batchRows);
    } finally {
      await pool.end();
    }
  } finally {
    source.close();
  }
}

/** What the source snapshot gave: checked, planned and summarized before the target is touched. */
interface SourcePlan {
  order: string[];
  columns: Map<string, string[]>;
  /** SQLite's AUTOINCREMENT high-water marks: ids never handed out again, even of deleted rows. */
  sequences: Map<string, number>;
  summary: DatabaseSummary;
  canary: Buffer;
}

async function copyInto(source: Db, pool: PgPool, o: CopyOptions, batchRows: number): Promise<CopyReport> {
  // data_version changes when another connection commits: compared once the snapshot is over.
  const versionBefore = source.pragma('data_version', { simple: true }) as number;
  source.exec('BEGIN');
  let open = true;
  const endSnapshot = () => {
    if (open) source.exec('COMMIT');
    open = false;
  };
  try {
    const plan = planSource(source, o.crypto);
    const targetVersion = await prepareTarget(pool, o.toLabel);
    const pgColumns = await targetColumns(pool);
    refuseDifferentColumns(plan.columns, pgColumns);
    await withPgTransaction(pool, async (tx) => {
      await refuseNonEmpty(tx, plan.order);
      for (const table of plan.order) await copyTable(source, tx, table, plan.columns.get(table) ?? [], batchRows, o.onBatch);
      endSnapshot();
      if (source.pragma('data_version', { simple: true }) !== versionBefore) {
        throw new CallpayError('database_in_use', `from: ${o.from} was written during the copy (stop the daemon: systemctl stop callpay); nothing was copied`, 'from');
      }
      // setval is not undone by a rollback: it comes after the last check that may refuse.
      for (const [table, cols] of pgColumns) {
        for (const col of cols.filter((c) => c.identity)) await moveSequence(tx, table, col.name, plan.sequences.get(table) ?? 0);
      }
    }, { maxAttempts: 1 });
    await verify(pool, plan);
    const tables = plan.order.map((name) => ({ name, rows: plan.summary.tables[name] ?? 0 }));
    return { tables, sourceVersion: plan.summary.schemaVersion, targetVersion, ledger: plan.summary.ledger };
  } finally {
    if (open) source.exec('ROLLBACK');
  }
}

function openSource(path: string): Db {
  if (!existsSync(path)) throw new CallpayError('not_found', `from: no file ${path}`, 'from');
  let db: Db;
  try {
    db = new Database(path, { fileMustExist: true });
  } catch (e) {
    throw new CallpayError('invalid_state', `from: cannot open ${path} (${errorText(e)})`, 'from');
  }
  db.pragma('query_only = ON'); // a copy never writes to its source
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Inside the source's read transaction: every check on the source, the copy order, its summary. */
function planSource(db: Db, crypto: FieldCrypto): SourcePlan {
  let names: string[];
  try {
    names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
  } catch (e) {
    throw new CallpayError('invalid_state', `from: not an SQLite database (${errorText(e)})`, 'from');
  }
  const missing = ['meta', NOT_COPIED, 'transfers', 'ledger_accounts'].filter((t) => !names.includes(t));
  if (missing.length > 0) throw new CallpayError('invalid_state', `from: not a callpay database (no ${missing.join(', ')} table)`, 'from');
  const applied = db.prepare(`SELECT version FROM ${NOT_COPIED} ORDER BY version`).pluck().all() as number[];
  const known = MIGRATIONS.map((m) => m.version);
  const newest = Math.max(...known);
  const unknown = applied.filter((v) => !known.includes(v));
  if (unknown.length > 0) {
    throw new CallpayError('backup_too_new', `from: made by a newer callpay (migration ${unknown.join(', ')} is unknown to this build, which knows up to ${newest})`, 'from');
  }
  const notYet = known.filter((v) => !applied.includes(v));
  if (notYet.length > 0) {
    throw new CallpayError('invalid_state', `from: lacks migration ${notYet.join(', ')} of this build; run \`callpay migrate\` on it first (store.driver "sqlite")`, 'from');
  }
  const canary = keyCanaryStatus(db, crypto);
  if (canary === 'missing') throw new CallpayError('invalid_state', 'from: the database has no key canary (open it once with `callpay init`)', 'from');
  if (canary === 'mismatch') throw new CallpayError('key_invalid', 'from: the configured master key does not open this database (keyFile, CALLPAY_MASTER_KEY)', 'from');
  const tables = names.filter((t) => t !== NOT_COPIED);
  const columns = new Map(tables.map((t) => [t, (db.pragma(`table_info(${quoteIdent(t)})`) as Array<{ name: string }>).map((c) => c.name)]));
  const hasSequences = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").get() !== undefined;
  const sequences = new Map(hasSequences ? (db.prepare('SELECT name, seq FROM sqlite_sequence').raw().all() as Array<[string, number]>) : []);
  const row = db.prepare("SELECT value FROM meta WHERE name = 'key_check'").get() as { value: Buffer };
  return { order: foreignKeyOrder(db, tables), columns, sequences, summary: summarize(db), canary: row.value };
}

/**
 * Parents before children, from PRAGMA foreign_key_list (ties by name, so the order is stable). A
 * table referring to itself (transfers.pending_id) needs its rows in insertion order instead: rowid.
 */
export function foreignKeyOrder(db: Db, tables: string[]): string[] {
  const parents = new Map<string, Set<string>>();
  for (const t of tables) {
    const refs = db.pragma(`foreign_key_list(${quoteIdent(t)})`) as Array<{ table: string }>;
    parents.set(t, new Set(refs.map((r) => r.table).filter((p) => p !== t)));
  }
  const order: string[] = [];
  const left = new Set(tables);
  while (left.size > 0) {
    const ready = [...left].filter((t) => [...(parents.get(t) ?? [])].every((p) => !left.has(p))).sort();
    if (ready.length === 0) throw new CallpayError('invalid_state', `from: foreign keys form a cycle among ${[...left].join(', ')}`, 'from');
    for (const t of ready) {
      order.push(t);
      left.delete(t);
    }
  }
  return order;
}

/** Creates or completes the schema on the target; a target migrated by a newer callpay is refused. */
async function prepareTarget(pool: PgPool, label: string): Promise<number> {
  try {
    await pool.query('SELECT 1');
  } catch (e) {
    throw new CallpayError('invalid_state', `to: cannot use the PostgreSQL database at ${label} (${errorText(e)})`, 'to');
  }
  const known = PG_MIGRATIONS.map((m) => m.version);
  if (await queryOne(pool, "SELECT 1 AS present WHERE to_regclass('schema_migrations') IS NOT NULL")) {
    const applied = await queryRows<{ version: number }>(pool, 'SELECT version FROM schema_migrations ORDER BY version');
    const unknown = applied.map((r) => r.version).filter((v) => !known.includes(v));
    if (unknown.length > 0) {
      throw new CallpayError('backup_too_new', `to: migrated by a newer callpay (PostgreSQL migration ${unknown.join(', ')} is unknown to this build)`, 'to');
    }
  }
  await applyPgMigrations(pool);
  return pgSchemaVersion(pool);
}

interface PgColumn {
  name: string;
  identity: boolean;
}

async function targetColumns(pool: PgPool): Promise<Map<string, PgColumn[]>> {
  const rows = await queryRows<{ table_name: string; column_name: string; is_identity: string }>(pool,
    `SELECT c.table_name, c.column_name, c.is_identity FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name <> $1
      ORDER BY c.table_name, c.ordinal_position`, [NOT_COPIED]);
  const tables = new Map<string, PgColumn[]>();
  for (const r of rows) {
    const cols = tables.get(r.table_name) ?? [];
    cols.push({ name: r.column_name, identity: r.is_identity === 'YES' });
    tables.set(r.table_name, cols);
  }
  return tables;
}

/** Every table and column on both sides by the same names, or nothing is copied. */
function refuseDifferentColumns(sqlite: Map<string, string[]>, pg: Map<string, PgColumn[]>): void {
  const diffs: string[] = [];
  for (const [t, cols] of sqlite) {
    const theirs = pg.get(t)?.map((c) => c.name);
    if (!theirs) {
      diffs.push(`table ${t} only in SQLite`);
      continue;
    }
    for (const c of cols) if (!theirs.includes(c)) diffs.push(`${t}.${c} only in SQLite`);
    for (const c of theirs) if (!cols.includes(c)) diffs.push(`${t}.${c} only in PostgreSQL`);
  }
  for (const t of pg.keys()) if (!sqlite.has(t)) diffs.push(`table ${t} only in PostgreSQL`);
  if (diffs.length > 0) throw new CallpayError('invalid_state', `to: the PostgreSQL schema differs from the SQLite one: ${diffs.join('; ')}; nothing was copied`, 'to');
}

/**
 * Locked against every writer until COMMIT (readers may go on), then checked empty: two copies or a
 * node started meanwhile cannot slip rows in between the check and the copy.
 */
async function refuseNonEmpty(tx: PgQueryable, tables: string[]): Promise<void> {
  await tx.query(`LOCK TABLE ${tables.map(quoteIdent).join(', ')} IN EXCLUSIVE MODE`);
  const probes = tables.map((t, i) => `SELECT $${i + 1}::text AS name WHERE EXISTS (SELECT 1 FROM ${quoteIdent(t)})`).join(' UNION ALL ');
  const full = await queryRows<{ name: string }>(tx, probes, tables);
  if (full.length > 0) {
    throw new CallpayError('already_exists', `to: the PostgreSQL database already holds callpay rows (${full.map((r) => r.name).join(', ')}); copy only into an empty one; nothing was copied`, 'to');
  }
}

/** One table, in the source's insertion order (rowid), a batch per multi-row INSERT. */
async function copyTable(db: Db, tx: PgQueryable, table: string, cols: string[], batchRows: number, onBatch: CopyOptions['onBatch']): Promise<void> {
  const perInsert = Math.max(1, Math.min(batchRows, Math.floor(MAX_PARAMS / cols.length)));
  const read = db.prepare(`SELECT rowid, ${cols.map(quoteIdent).join(', ')} FROM ${quoteIdent(table)} WHERE rowid > ? ORDER BY rowid LIMIT ?`).raw();
  const head = `INSERT INTO ${quoteIdent(table)} (${cols.map(quoteIdent).join(', ')}) VALUES `;
  let after = Number.MIN_SAFE_INTEGER;
  let copied = 0;
  for (;;) {
    const rows = read.all(after, perInsert) as unknown[][];
    if (rows.length === 0) return;
    const values: PgValue[] = [];
    const tuples = rows.map((row) => {
      after = row[0] as number;
      const at = values.length;
      for (let i = 1; i < row.length; i++) values.push(pgValue(row[i], table, cols[i - 1] ?? ''));
      return `(${cols.map((_, i) => `$${at + i + 1}`).join(', ')})`;
    });
    await tx.query(head + tuples.join(', '), values);
    copied += rows.length;
    onBatch?.(table, copied);
  }
}

function pgValue(v: unknown, table: string, column: string): PgValue {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || Buffer.isBuffer(v)) return v;
  throw new CallpayError('invalid_state', `from: ${table}.${column} holds a value of type ${typeof v}`, 'from');
}

/** The next id PostgreSQL hands out comes after every copied one and every one SQLite ever handed out. */
async function moveSequence(tx: PgQueryable, table: string, column: string, sqliteSeq: number): Promise<void> {
  await tx.query(
    `SELECT setval(pg_get_serial_sequence($1, $2), greatest(coalesce((SELECT max(${quoteIdent(column)}) FROM ${quoteIdent(table)}), 0), $3::bigint) + 1, false)`,
    [quoteIdent(table), column, sqliteSeq],
  );
}

/** After COMMIT, in one snapshot of the target: rows per table, the ledger's checksum, the canary. */
async function verify(pool: PgPool, plan: SourcePlan): Promise<void> {
  await withPgTransaction(pool, async (tx) => {
    await tx.query('SET TRANSACTION READ ONLY');
    const wrong: string[] = [];
    for (const t of plan.order) {
      const n = (await queryOne<{ n: number }>(tx, `SELECT count(*) AS n FROM ${quoteIdent(t)}`))?.n ?? 0;
      if (n !== plan.summary.tables[t]) wrong.push(`${t}: ${n} rows, the source has ${plan.summary.tables[t]}`);
    }
    const ledger = await pgLedgerSummary(tx);
    if (ledger.checksum !== plan.summary.ledger.checksum) wrong.push('the ledger checksum differs');
    if (ledger.balanced !== plan.summary.ledger.balanced) wrong.push('the ledger balances on one side only');
    const canary = await queryOne<{ value: Buffer }>(tx, "SELECT value FROM meta WHERE name = 'key_check'");
    if (!canary || !canary.value.equals(plan.canary)) wrong.push('the key canary differs');
    if (wrong.length > 0) throw new CallpayError('invalid_state', `to: the copy was committed but does not match the source: ${wrong.join('; ')}`, 'to');
  }, { isolation: 'repeatable read', maxAttempts: 1 });
}

/** The ledger summary of a PostgreSQL database, by the same definition as backup.ts's, read through a cursor. */
export async function pgLedgerSummary(tx: PgQueryable, fetchRows = 1000): Promise<DatabaseSummary['ledger']> {
  const checksum = new LedgerChecksum();
  for (const [sql, add] of [[LEDGER_TRANSFERS_SQL, (r: LedgerValue[]) => checksum.transfer(r)], [LEDGER_ACCOUNTS_SQL, (r: LedgerValue[]) => checksum.account(r)]] as const) {
    await tx.query(`DECLARE ledger_rows NO SCROLL CURSOR FOR ${sql}`);
    for (;;) {
      const page = await tx.query<Record<string, LedgerValue>>(`FETCH ${fetchRows} FROM ledger_rows`);
      for (const row of page.rows) add(page.fields.map((f) => row[f.name] ?? null));
      if (page.rows.length < fetchRows) break;
    }
    await tx.query('CLOSE ledger_rows');
  }
  const problems = (await queryOne<{ problems: number }>(tx, LEDGER_PROBLEMS_SQL))?.problems ?? 0;
  return { accounts: checksum.accounts, transfers: checksum.transfers, balanced: problems === 0, checksum: checksum.digest() };
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
