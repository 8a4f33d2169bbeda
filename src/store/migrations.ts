import type Database from 'better-sqlite3';
import { ENROLMENT_SQL } from './schema/001-enrolment.js';
import { PAYMENTS_SQL } from './schema/002-payments.js';
import { CALLS_SQL } from './schema/003-calls.js';

/**
 * Numbered migrations, applied in order at start, each in its own transaction. Never edit one that
 * has shipped: add the next number. Personal data columns end in `_sealed` (XChaCha20-Poly1305,
 * AAD = "table/column/id") and lookups go through `_index` columns (keyed BLAKE2b).
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  { version: 1, name: 'consumers, billable accounts, merchants', sql: ENROLMENT_SQL },
  { version: 2, name: 'ledger, payments, events, webhooks, idempotency', sql: PAYMENTS_SQL },
  { version: 3, name: 'call attempts, PIN failures, merchant voice clips', sql: CALLS_SQL },
];

export function applyMigrations(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`);
  const isApplied = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').pluck();
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const m of MIGRATIONS) {
    // Checked inside the write transaction: two processes starting together apply each once.
    db.transaction(() => {
      if (isApplied.get(m.version)) return;
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
    }).immediate();
  }
}
