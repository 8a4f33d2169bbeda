import type { PgPool, PgQueryable } from './db.js';
import { execute, queryOne } from './db.js';
import { PG_ENROLMENT_SQL } from './schema/001-enrolment.js';
import { PG_PAYMENTS_SQL } from './schema/002-payments.js';
import { PG_CALLS_AND_DIALS_SQL } from './schema/003-calls-and-dials.js';
import { PG_AUDIT_SQL } from './schema/004-audit.js';
import { PG_CALL_LEASES_SQL } from './schema/005-call-leases.js';
import { PG_FRAUD_REPORTS_SQL } from './schema/006-fraud-reports.js';
import { PG_CONSUMER_ACCOUNTS_INDEX_SQL } from './schema/007-consumer-accounts-index.js';

export interface PgMigration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The PostgreSQL store's own numbered migrations; its numbers are not SQLite's. Together they give the
 * schema SQLite has after all of its migrations (tables and columns by the same names: checked by
 * test/pg-schema.test.ts). Never edit one that has shipped: add the next number.
 */
export const PG_MIGRATIONS: readonly PgMigration[] = [
  { version: 1, name: 'consumers, billable accounts, merchants', sql: PG_ENROLMENT_SQL },
  { version: 2, name: 'ledger, payments, events, webhooks, idempotency', sql: PG_PAYMENTS_SQL },
  { version: 3, name: 'call attempts, PIN failures, dials, checkout attempt limits', sql: PG_CALLS_AND_DIALS_SQL },
  { version: 4, name: 'hash-chained operator audit log', sql: PG_AUDIT_SQL },
  { version: 5, name: 'call leases: which node owns a call, until when', sql: PG_CALL_LEASES_SQL },
  { version: 6, name: 'fraud reports, frictionless-allowance locks', sql: PG_FRAUD_REPORTS_SQL },
  { version: 7, name: 'billable accounts by consumer', sql: PG_CONSUMER_ACCOUNTS_INDEX_SQL },
];

/**
 * Several nodes start at once against one database: each migration runs in its own transaction
 * holding this transaction-scoped advisory lock, and checks whether it is applied only once it holds
 * it, so exactly one node applies it and the others find it done. The lock is per database and is
 * released at COMMIT or ROLLBACK, so a node that dies mid-migration leaves nothing held.
 */
export const MIGRATION_LOCK_KEY = 0x63616c6c706179n; // "callpay"

const CREATE_VERSIONS = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version     INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  applied_at  TEXT NOT NULL
)`;

/** What `applyPgMigrations` did: the versions this call applied (others were found applied). */
export interface PgMigrationReport {
  applied: number[];
}

/** `through`: stop after this version (tests build an older database to upgrade). */
export async function applyPgMigrations(pool: PgPool, opts: { through?: number } = {}): Promise<PgMigrationReport> {
  // CREATE TABLE IF NOT EXISTS is not safe against a concurrent CREATE of the same table: under the lock too.
  await underMigrationLock(pool, async (db) => { await execute(db, CREATE_VERSIONS); });
  const applied: number[] = [];
  for (const m of PG_MIGRATIONS) {
    if (opts.through !== undefined && m.version > opts.through) break;
    await underMigrationLock(pool, async (db) => {
      // READ COMMITTED: this statement, after the lock, sees a version another node committed meanwhile.
      if (await queryOne(db, 'SELECT 1 AS done FROM schema_migrations WHERE version = $1', [m.version])) return;
      try {
        // no parameters: pg sends it as a simple query, which may hold many statements
        await execute(db, m.sql);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new Error(`PostgreSQL migration ${m.version} (${m.name}) failed, nothing of it was applied: ${why}`, { cause: err });
      }
      await execute(db, 'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, new Date().toISOString()]);
      applied.push(m.version);
    });
  }
  return { applied };
}

/** The highest applied version, 0 for an empty database. */
export async function pgSchemaVersion(pool: PgPool): Promise<number> {
  const table = await queryOne<{ present: string | null }>(pool, "SELECT to_regclass('schema_migrations')::text AS present");
  if (!table?.present) return 0;
  const row = await queryOne<{ version: number | null }>(pool, 'SELECT max(version) AS version FROM schema_migrations');
  return row?.version ?? 0;
}

async function underMigrationLock(pool: PgPool, work: (db: PgQueryable) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
      await work({ query: (text, values) => client.query(text, values) });
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      });
      throw err;
    }
  } finally {
    client.release(broken);
  }
}
