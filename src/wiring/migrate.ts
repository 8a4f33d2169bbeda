import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { CallpayError } from '../domain/errors.js';
import { openDatabase } from '../store/db.js';
import { MIGRATIONS } from '../store/migrations.js';
import { openPgPool, queryRows, type PgPool } from '../store/pg/db.js';
import { PG_MIGRATIONS, applyPgMigrations, pgSchemaVersion } from '../store/pg/migrations.js';
import { postgresUrl } from './stores.js';

/** What `callpay migrate` did to the configured store. */
export interface MigrateReport {
  driver: Config['store']['driver'];
  /** The SQLite file, or store.url (never with a password in it). */
  location: string;
  /** The newest migration applied before and after; 0 for an empty database. */
  before: number;
  after: number;
  /** The versions this run applied (none when the schema was up to date). */
  applied: number[];
  /** The newest migration this build knows for this driver. */
  newest: number;
}

/**
 * Brings the configured store's schema up to date and nothing else: no key, no repositories, no
 * workers. Safe beside running nodes: SQLite applies each migration in an IMMEDIATE transaction that
 * checks it is not applied yet, PostgreSQL under its migration advisory lock. A database with a
 * migration this build does not know is refused before anything is written.
 */
export async function migrateStore(config: Config): Promise<MigrateReport> {
  return config.store.driver === 'postgres' ? migratePostgres(config) : migrateSqlite(config.database);
}

function migrateSqlite(path: string): MigrateReport {
  const known = MIGRATIONS.map((m) => m.version);
  const before = existsSync(path) ? sqliteVersions(path) : [];
  refuseUnknown(before, known, 'database');
  const db = openDatabase(path); // applies this build's migrations, as `serve` would
  let after: number[];
  try {
    after = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all() as number[];
  } finally {
    db.close();
  }
  const had = new Set(before);
  return { driver: 'sqlite', location: path, before: newestOf(before), after: newestOf(after), applied: after.filter((v) => !had.has(v)), newest: newestOf(known) };
}

/** The versions applied to a SQLite file, read without changing it. */
function sqliteVersions(path: string): number[] {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new CallpayError('invalid_state', `database: cannot open ${path} (${errorText(e)})`, 'database');
  }
  try {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
    return table ? (db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all() as number[]) : [];
  } catch (e) {
    throw new CallpayError('invalid_state', `database: ${path} is not an SQLite database (${errorText(e)})`, 'database');
  } finally {
    db.close();
  }
}

async function migratePostgres(config: Config): Promise<MigrateReport> {
  const location = config.store.url ?? '';
  const pool = openPgPool({ url: postgresUrl(config), max: 2 });
  try {
    await reachable(pool, 'store.url', location);
    const known = PG_MIGRATIONS.map((m) => m.version);
    refuseUnknown(await pgVersions(pool), known, 'store.url');
    const before = await pgSchemaVersion(pool);
    const { applied } = await applyPgMigrations(pool);
    return { driver: 'postgres', location, before, after: await pgSchemaVersion(pool), applied, newest: newestOf(known) };
  } finally {
    await pool.end();
  }
}

/** The versions applied to a PostgreSQL database; none before its first migration. */
export async function pgVersions(pool: PgPool): Promise<number[]> {
  const present = await queryRows<{ t: string | null }>(pool, "SELECT to_regclass('schema_migrations')::text AS t");
  if (!present[0]?.t) return [];
  return (await queryRows<{ version: number }>(pool, 'SELECT version FROM schema_migrations ORDER BY version')).map((r) => r.version);
}

/**
 * One round trip, so a wrong host, database name or password is reported naming the setting, not as
 * an internal error. pg's messages name the host and the user, never the password.
 */
export async function reachable(pool: PgPool, field: string, location: string): Promise<void> {
  try {
    await pool.query('SELECT 1');
  } catch (e) {
    throw new CallpayError('invalid_state', `${field}: cannot use the PostgreSQL database at ${location} (${errorText(e)})`, field);
  }
}

/** A database a newer callpay has migrated: its rows may mean what this build cannot know. */
export function refuseUnknown(applied: number[], known: number[], field: string): void {
  const knows = new Set(known);
  const unknown = applied.filter((v) => !knows.has(v));
  if (unknown.length > 0) {
    throw new CallpayError('backup_too_new', `${field}: made by a newer callpay (migration ${unknown.join(', ')} is unknown to this build, which knows up to ${newestOf(known)}); nothing was changed`, field);
  }
}

function newestOf(versions: number[]): number {
  return versions.reduce((a, b) => Math.max(a, b), 0);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
