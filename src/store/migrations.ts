import type Database from 'better-sqlite3';
import { ENROLMENT_SQL } from './schema/001-enrolment.js';
import { PAYMENTS_SQL } from './schema/002-payments.js';
import { CALLS_SQL } from './schema/003-calls.js';
import { CONSUMER_LOCALE_SQL } from './schema/004-consumer-locale.js';
import { DIALS_AND_LIMITS_SQL } from './schema/005-dials-and-limits.js';
import { AUDIT_SQL } from './schema/006-audit.js';
import { DIALS_UNKNOWN_NUMBER_SQL } from './schema/007-dials-unknown-number.js';
import { CALL_LEASES_SQL } from './schema/008-call-leases.js';
import { FRAUD_REPORTS_SQL } from './schema/009-fraud-reports.js';
import { CONSUMER_ACCOUNTS_INDEX_SQL } from './schema/010-consumer-accounts-index.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /**
   * Drops and recreates a table that others reference (SQLite's 12-step ALTER TABLE). Runs with
   * foreign key enforcement off, or DROP TABLE would count every referencing row as a violation, and
   * commits only if foreign_key_check then finds nothing.
   */
  rebuildsTables?: boolean;
}

/**
 * Numbered migrations, applied in order at start, each in its own transaction. Never edit one that
 * has shipped: add the next number. Personal data columns end in `_sealed` (XChaCha20-Poly1305,
 * AAD = "table/column/id") and lookups go through `_index` columns (keyed BLAKE2b).
 */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'consumers, billable accounts, merchants', sql: ENROLMENT_SQL },
  { version: 2, name: 'ledger, payments, events, webhooks, idempotency', sql: PAYMENTS_SQL },
  { version: 3, name: 'call attempts, PIN failures, merchant voice clips', sql: CALLS_SQL },
  { version: 4, name: 'consumer locale checked by the application', sql: CONSUMER_LOCALE_SQL, rebuildsTables: true },
  { version: 5, name: 'dial attempts for the call caps, persistent checkout attempt limits', sql: DIALS_AND_LIMITS_SQL },
  { version: 6, name: 'hash-chained operator audit log', sql: AUDIT_SQL },
  { version: 7, name: 'dials whose number a key rotation could not re-key', sql: DIALS_UNKNOWN_NUMBER_SQL },
  { version: 8, name: 'call leases: which node owns a call, until when', sql: CALL_LEASES_SQL },
  { version: 9, name: 'fraud reports, frictionless-allowance locks', sql: FRAUD_REPORTS_SQL },
  { version: 10, name: 'billable accounts by consumer', sql: CONSUMER_ACCOUNTS_INDEX_SQL },
];

/** `through`: stop after this version (tests build an older database to upgrade). */
export function applyMigrations(db: Database.Database, opts: { through?: number } = {}): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`);
  const isApplied = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').pluck();
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of MIGRATIONS) {
    if (opts.through !== undefined && m.version > opts.through) break;
    // PRAGMA foreign_keys is a no-op inside a transaction, so it is switched around it.
    const pauseForeignKeys = m.rebuildsTables === true && db.pragma('foreign_keys', { simple: true }) === 1;
    if (pauseForeignKeys) db.pragma('foreign_keys = OFF');
    try {
      // Checked inside the write transaction: two processes starting together apply each once.
      db.transaction(() => {
        if (isApplied.get(m.version)) return;
        db.exec(m.sql);
        if (m.rebuildsTables) {
          const broken = db.pragma('foreign_key_check') as Array<{ table: string; parent: string }>;
          if (broken.length > 0) {
            const where = [...new Set(broken.map((b) => `${b.table} → ${b.parent}`))].join(', ');
            throw new Error(`migration ${m.version} (${m.name}): ${broken.length} rows break foreign keys (${where}); nothing was changed`);
          }
        }
        record.run(m.version, m.name, new Date().toISOString());
      }).immediate();
    } finally {
      if (pauseForeignKeys) db.pragma('foreign_keys = ON');
    }
  }
}
