import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, applyMigrations } from '../src/store/migrations.js';

/**
 * Migration 004 rebuilds `consumers` (referenced by billable_accounts, payments and pin_failures) to
 * drop its locale CHECK. A database made by 001..003 and holding data must come through whole.
 */
let dir: string;
let db: Database.Database;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'callpay-migrations-'));
  db = open();
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** As store/db.ts opens it: WAL, foreign keys enforced. */
function open(): Database.Database {
  const d = new Database(join(dir, 'callpay.db'));
  d.pragma('journal_mode = WAL');
  d.pragma('foreign_keys = ON');
  return d;
}

const T = '2025-01-02T03:04:05.000Z';
const blob = (s: string) => Buffer.from(s);

/** Rows in every table that touches consumers, and a few that do not. */
function seed(d: Database.Database): void {
  const consumer = d.prepare(`INSERT INTO consumers (id, login_index, login_sealed, phone_index, phone_sealed,
    national_id_sealed, address_sealed, pin_hash, password_hash, locale, password_above, call_above,
    frictionless_amount, frictionless_count, status, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  consumer.run('c1', blob('li1'), blob('ls1'), blob('pi1'), blob('ps1'), blob('n1'), blob('a1'), '$argon2id$1', null, 'en-US', 0, 0, null, null, 'active', T, T);
  consumer.run('c2', blob('li2'), blob('ls2'), blob('pi1'), blob('ps2'), blob('n2'), blob('a2'), '$argon2id$2', '$argon2id$p', 'zh-TW', 5000, 10000, 20000, 3, 'locked', T, T);
  d.exec(`
    INSERT INTO meta (name, value) VALUES ('canary', x'00ff');
    INSERT INTO billable_accounts VALUES ('b1', 'c1', 'mobile', x'01', x'02', 'prepaid', 'TWD', NULL, 1, '${T}');
    INSERT INTO billable_accounts VALUES ('b2', 'c2', 'landline', x'03', x'04', 'postpaid', 'TWD', 90000, 1, '${T}');
    INSERT INTO merchants (id, display_name, spoken_name, webhook_url, status, created_at, updated_at, voice_clip)
      VALUES ('m1', 'Stall', 'Stall', NULL, 'active', '${T}', '${T}', '/srv/m1.wav');
    INSERT INTO merchant_api_keys VALUES ('k1', 'm1', x'aa', 'cp_…abcd', '${T}', NULL);
    INSERT INTO ledger_accounts (id, code, billable_account_id, merchant_id, currency) VALUES ('la1', 'consumer', 'b1', NULL, 'TWD');
    INSERT INTO ledger_accounts (id, code, billable_account_id, merchant_id, currency) VALUES ('la2', 'merchant', NULL, 'm1', 'TWD');
    INSERT INTO payments (id, merchant_id, amount, currency, reference, description, return_url, metadata, consumer_id,
        billable_account_id, status, live, expires_at, created_at, updated_at)
      VALUES ('p1', 'm1', 15000, 'TWD', 'r1', 'Tea', 'https://shop.example/', '{}', 'c1', 'b1', 'succeeded', 1, '${T}', '${T}', '${T}');
    INSERT INTO payment_transitions (payment_id, from_status, to_status, reason, created_at) VALUES ('p1', NULL, 'requires_consumer', 'created', '${T}');
    INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, currency, payment_id, cycle, created_at)
      VALUES ('t1', 'hold', 'la1', 'la2', 15000, 'TWD', 'p1', '2025-01', '${T}');
    INSERT INTO call_attempts (payment_id, attempt, call_id, started_at, outcome) VALUES ('p1', 1, 'call-1', '${T}', 'answered');
    INSERT INTO pin_failures (consumer_id, payment_id, created_at) VALUES ('c2', 'p1', '${T}');
    INSERT INTO pin_failures (consumer_id, payment_id, created_at) VALUES ('c2', NULL, '${T}');
  `);
}

function tables(d: Database.Database): string[] {
  return d.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`).pluck().all() as string[];
}

function snapshot(d: Database.Database): Record<string, unknown[]> {
  return Object.fromEntries(tables(d).map((t) => [t, d.prepare(`SELECT rowid AS _rowid, * FROM "${t}" ORDER BY rowid`).all()]));
}

/** Columns, indexes (by what they cover) and foreign keys of every table: the shape, not the SQL text. */
function shape(d: Database.Database): Record<string, unknown> {
  return Object.fromEntries(
    tables(d).map((t) => [
      t,
      {
        columns: d.pragma(`table_info("${t}")`),
        indexes: (d.pragma(`index_list("${t}")`) as Array<{ name: string; unique: number; origin: string; partial: number }>)
          .map((i) => ({ unique: i.unique, origin: i.origin, partial: i.partial, columns: (d.pragma(`index_info("${i.name}")`) as Array<{ name: string }>).map((c) => c.name) }))
          .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
        foreignKeys: d.pragma(`foreign_key_list("${t}")`),
      },
    ]),
  );
}

const versions = (d: Database.Database) => d.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
const consumersSql = (d: Database.Database) => d.prepare(`SELECT sql FROM sqlite_schema WHERE name = 'consumers'`).pluck().get() as string;

describe('migration 004: consumers without the locale CHECK', () => {
  it('is numbered in order, and the only migration that rebuilds tables', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(MIGRATIONS.filter((m) => m.rebuildsTables).map((m) => m.version)).toEqual([4]);
  });

  it('upgrades a 001..003 database with data: every row intact, keys and integrity clean', () => {
    applyMigrations(db, { through: 3 });
    expect(versions(db)).toEqual([1, 2, 3]);
    seed(db);
    const rowsBefore = snapshot(db);
    const shapeBefore = shape(db);
    expect(consumersSql(db)).toMatch(/CHECK \(locale IN/);
    db.close();

    db = open();
    applyMigrations(db, { through: 4 });
    expect(versions(db)).toEqual([1, 2, 3, 4]);
    expect(snapshot(db)).toEqual(rowsBefore);
    expect(shape(db)).toEqual(shapeBefore);
    expect(consumersSql(db)).not.toMatch(/locale IN/);
    expect(consumersSql(db)).toMatch(/CHECK \(status IN/);
    expect(db.pragma('foreign_key_check')).toEqual([]);
    expect(db.pragma('integrity_check')).toEqual([{ integrity_check: 'ok' }]);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.prepare(`SELECT count(*) FROM sqlite_schema WHERE name LIKE '%consumers_new%'`).pluck().get()).toBe(0);

    // The database no longer limits locales; its other constraints and the foreign keys still hold.
    const add = (id: string, locale: string, status: string) =>
      db.prepare(`INSERT INTO consumers (id, login_index, login_sealed, phone_index, phone_sealed, national_id_sealed,
        address_sealed, pin_hash, locale, status, created_at, updated_at) VALUES (?, ?, x'00', x'00', x'00', x'00', x'00', 'h', ?, ?, ?, ?)`)
        .run(id, blob(id), locale, status, T, T);
    add('c3', 'ja-JP', 'active');
    expect(() => add('c4', 'en-US', 'gone')).toThrow(/CHECK/);
    expect(() => db.prepare(`INSERT INTO consumers (id, login_index, login_sealed, phone_index, phone_sealed, national_id_sealed,
        address_sealed, pin_hash, locale, status, created_at, updated_at) VALUES ('c7', ?, x'00', x'00', x'00', x'00', x'00', 'h', 'en-US', 'active', ?, ?)`)
      .run(blob('li1'), T, T)).toThrow(/UNIQUE/);
    expect(() => db.exec(`INSERT INTO pin_failures (consumer_id, created_at) VALUES ('nobody', '${T}')`)).toThrow(/FOREIGN KEY/);
    expect(() => db.exec(`DELETE FROM consumers WHERE id = 'c1'`)).toThrow(/FOREIGN KEY/);
  });

  it('builds the same schema on a new database as on an upgraded one', () => {
    applyMigrations(db);
    const fresh = shape(db);
    db.close();
    rmSync(dir, { recursive: true, force: true });
    dir = mkdtempSync(join(tmpdir(), 'callpay-migrations-'));
    db = open();
    applyMigrations(db, { through: 3 });
    applyMigrations(db);
    expect(shape(db)).toEqual(fresh);
  });

  it('is applied once: running the migrations again changes nothing', () => {
    applyMigrations(db, { through: 3 });
    seed(db);
    applyMigrations(db);
    const rows = snapshot(db);
    applyMigrations(db);
    expect(versions(db)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(snapshot(db)).toEqual(rows);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
  });

  it('leaves the database as it was when a row already breaks a foreign key', () => {
    applyMigrations(db, { through: 3 });
    seed(db);
    db.pragma('foreign_keys = OFF');
    db.exec(`INSERT INTO pin_failures (consumer_id, created_at) VALUES ('nobody', '${T}')`);
    db.pragma('foreign_keys = ON');
    const rows = snapshot(db);

    expect(() => applyMigrations(db)).toThrow(/migration 4 .*pin_failures → consumers/);
    expect(versions(db)).toEqual([1, 2, 3]);
    expect(consumersSql(db)).toMatch(/CHECK \(locale IN/);
    expect(snapshot(db)).toEqual(rows);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
  });
});
