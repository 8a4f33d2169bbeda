import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyMigrations } from '../src/store/migrations.js';
import {
  TransactionRetriesExhausted, execute, openPgPool, queryOne, queryRows, sqlState, withPgTransaction,
  type PgPool, type PgTx,
} from '../src/store/pg/db.js';
import { PG_MIGRATIONS, applyPgMigrations, pgSchemaVersion } from '../src/store/pg/migrations.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

/**
 * The PostgreSQL store's foundation against a real PostgreSQL 15 (a throw-away cluster of this file's
 * own): migrations applied once however many nodes start together, the append-only and idempotency
 * guarantees the SQLite schema has, the same tables and columns as SQLite, and the transaction
 * helper's savepoints, retries and connection hygiene.
 */

let cluster: PgCluster;
const pools: PgPool[] = [];

let notStarted: unknown;
// A cluster that cannot start fails every test by name, not only the file (hook errors leave tests "skipped").
beforeAll(async () => {
  try {
    cluster = await startPostgres();
  } catch (err) {
    notStarted = err;
  }
}, 60_000);
beforeEach(() => {
  if (notStarted) throw notStarted;
});
afterAll(async () => { await cluster?.stop(); }, 30_000);
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end()));
});

async function freshPool(max = 4): Promise<PgPool> {
  const db = await cluster.createDatabase();
  const pool = openPgPool({ url: db.url, max });
  pools.push(pool);
  return pool;
}

function poolOn(url: string, max = 4): PgPool {
  const pool = openPgPool({ url, max });
  pools.push(pool);
  return pool;
}

/** Every client back in the pool and nobody queued for one. */
function expectAllReleased(pool: PgPool): void {
  expect(pool.idleCount).toBe(pool.totalCount);
  expect(pool.waitingCount).toBe(0);
}

/** Resolves once `n` parties arrived; bounded, so a party that never comes fails the test instead of hanging it. */
function barrier(n: number, timeoutMs = 10_000): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((r) => { open = r; });
  return async () => {
    if (++arrived === n) open();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      opened,
      new Promise<never>((_, fail) => { timer = setTimeout(() => fail(new Error(`barrier: ${arrived}/${n} arrived in ${timeoutMs} ms`)), timeoutMs); }),
    ]).finally(() => clearTimeout(timer));
  };
}

const ALL_VERSIONS = PG_MIGRATIONS.map((m) => m.version);

describe('PostgreSQL migrations', () => {
  it('apply every version once; a second run finds them all applied', async () => {
    const pool = await freshPool();
    expect(await pgSchemaVersion(pool)).toBe(0);
    expect((await applyPgMigrations(pool)).applied).toEqual(ALL_VERSIONS);
    expect((await applyPgMigrations(pool)).applied).toEqual([]);
    const rows = await queryRows<{ version: number }>(pool, 'SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(ALL_VERSIONS);
    expect(await pgSchemaVersion(pool)).toBe(ALL_VERSIONS.at(-1));
    expectAllReleased(pool);
  });

  it('stop at `through` and finish later', async () => {
    const pool = await freshPool();
    expect((await applyPgMigrations(pool, { through: 2 })).applied).toEqual([1, 2]);
    expect(await queryOne(pool, "SELECT to_regclass('audit_log')::text AS t")).toEqual({ t: null });
    expect((await applyPgMigrations(pool)).applied).toEqual(ALL_VERSIONS.filter((v) => v > 2));
  });

  it('two nodes starting at once against one database apply each version exactly once', async () => {
    const { url } = await cluster.createDatabase();
    const nodes = [poolOn(url), poolOn(url), poolOn(url)];
    const reports = await Promise.all(nodes.map((p) => applyPgMigrations(p)));
    const applied = reports.flatMap((r) => r.applied).sort((a, b) => a - b);
    expect(applied).toEqual(ALL_VERSIONS);
    const count = await queryOne<{ n: number }>(nodes[0]!, 'SELECT count(*) AS n FROM schema_migrations');
    expect(count?.n).toBe(ALL_VERSIONS.length);
    for (const p of nodes) expectAllReleased(p);
  });

  it('a failing migration leaves nothing of itself behind', async () => {
    const pool = await freshPool();
    await applyPgMigrations(pool, { through: 1 });
    // the ledger's tables may not exist before 002: a table in its way makes 002 fail midway
    await execute(pool, 'CREATE TABLE events (x int)');
    await expect(applyPgMigrations(pool)).rejects.toThrow(/migration 2 .*nothing of it was applied/);
    expect(await queryOne(pool, "SELECT to_regclass('ledger_accounts')::text AS t")).toEqual({ t: null });
    expect(await pgSchemaVersion(pool)).toBe(1);
    expectAllReleased(pool);
  });
});

describe('PostgreSQL schema guarantees', () => {
  let pool: PgPool;
  const T = '2025-01-02T03:04:05.000Z';

  beforeAll(async () => {
    if (notStarted) return;
    const db = await cluster.createDatabase();
    pool = openPgPool({ url: db.url, max: 4 });
    await applyPgMigrations(pool);
    await execute(pool, `
      INSERT INTO merchants (id, display_name, spoken_name, status, created_at, updated_at) VALUES ('m1', 'Stall', 'Stall', 'active', '${T}', '${T}');
      INSERT INTO consumers (id, login_index, login_sealed, phone_index, phone_sealed, national_id_sealed, address_sealed,
          pin_hash, locale, status, created_at, updated_at)
        VALUES ('c1', '\\x01', '\\x02', '\\x03', '\\x04', '\\x05', '\\x06', '$argon2id$1', 'en-US', 'active', '${T}', '${T}');
      INSERT INTO billable_accounts VALUES ('b1', 'c1', 'mobile', '\\x07', '\\x08', 'prepaid', 'TWD', NULL, 1, '${T}');
      INSERT INTO ledger_accounts (id, code, billable_account_id, merchant_id, currency) VALUES ('la1', 'consumer', 'b1', NULL, 'TWD');
      INSERT INTO ledger_accounts (id, code, billable_account_id, merchant_id, currency) VALUES ('la2', 'merchant', NULL, 'm1', 'TWD');
      INSERT INTO payments (id, merchant_id, amount, currency, reference, description, return_url, metadata, consumer_id,
          billable_account_id, status, live, expires_at, created_at, updated_at)
        VALUES ('p1', 'm1', 9007199254740991, 'TWD', 'r1', 'Tea', 'https://shop.example/', '{}', 'c1', 'b1', 'calling', 1, '${T}', '${T}', '${T}');
      INSERT INTO payment_transitions (payment_id, from_status, to_status, reason, created_at) VALUES ('p1', NULL, 'calling', 'created', '${T}');
      INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, currency, payment_id, cycle, created_at)
        VALUES ('t1', 'hold', 'la1', 'la2', 15000, 'TWD', 'p1', '2025-01', '${T}');
      INSERT INTO events (id, merchant_id, type, payment_id, data, created_at) VALUES ('e1', 'm1', 'payment.created', 'p1', '{}', '${T}');
      INSERT INTO audit_log (at, actor, action, subject, details, prev_hash, hash) VALUES ('${T}', 'op', 'merchant.add', 'm1', '{}', '\\x00', '\\x01');
    `);
  });
  afterAll(async () => { await pool?.end(); });

  const refused = async (sql: string, message: RegExp) => {
    const err: unknown = await pool.query(sql).then(() => undefined, (e: unknown) => e);
    expect(err, sql).toBeInstanceOf(Error);
    expect(sqlState(err), sql).toBe('23001');
    expect((err as Error).message).toMatch(message);
  };

  it.each([
    ['transfers', /ledger transfers are append-only/],
    ['payment_transitions', /transitions are append-only/],
    ['audit_log', /the audit log is append-only/],
  ])('%s refuses UPDATE, DELETE and TRUNCATE', async (table, message) => {
    const before = await queryOne<{ n: number }>(pool, `SELECT count(*) AS n FROM ${table}`);
    expect(before?.n).toBe(1);
    const column = table === 'audit_log' ? 'at' : 'created_at';
    await refused(`UPDATE ${table} SET ${column} = ${column}`, message);
    await refused(`DELETE FROM ${table}`, message);
    // a statement matching no row is refused too: the trigger is per statement
    await refused(`DELETE FROM ${table} WHERE false`, message);
    await refused(`TRUNCATE ${table} CASCADE`, message);
    expect(await queryOne(pool, `SELECT count(*) AS n FROM ${table}`)).toEqual(before);
  });

  it('events refuse UPDATE (as in SQLite)', async () => {
    await refused("UPDATE events SET data = '{\"x\":1}'", /events are append-only/);
  });

  it('unique keys make posting idempotent: one hold per payment, one post-or-void per hold, one transfer per refund', async () => {
    const dup = (sql: string) => pool.query(sql).then(() => undefined, (e: unknown) => sqlState(e));
    expect(await dup(`INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, currency, payment_id, cycle, created_at)
      VALUES ('t2', 'hold', 'la1', 'la2', 15000, 'TWD', 'p1', '2025-01', '${T}')`)).toBe('23505');
    await execute(pool, `INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, currency, pending_id, payment_id, cycle, created_at)
      VALUES ('t3', 'post', 'la1', 'la2', 15000, 'TWD', 't1', 'p1', '2025-01', '${T}')`);
    expect(await dup(`INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, currency, pending_id, payment_id, cycle, created_at)
      VALUES ('t4', 'void', 'la1', 'la2', 15000, 'TWD', 't1', 'p1', '2025-01', '${T}')`)).toBe('23505');
    expect(await dup(`INSERT INTO idempotency_keys VALUES ('m1', 'k', '\\x00', 200, '{}', '${T}'), ('m1', 'k', '\\x00', 200, '{}', '${T}')`)).toBe('23505');
  });

  it('CHECK constraints hold: positive amounts, no balance below zero, postpaid needs a credit limit, post/void name their hold', async () => {
    const violation = (sql: string) => pool.query(sql).then(() => undefined, (e: unknown) => sqlState(e));
    expect(await violation("UPDATE ledger_accounts SET debits_posted = -1 WHERE id = 'la1'")).toBe('23514');
    expect(await violation("UPDATE payments SET amount_refunded = amount + 1 WHERE id = 'p1'")).toBe('23514');
    expect(await violation(`INSERT INTO billable_accounts VALUES ('b2', 'c1', 'mobile', '\\x09', '\\x0a', 'postpaid', 'TWD', NULL, 0, '${T}')`)).toBe('23514');
    expect(await violation(`INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, currency, cycle, created_at)
      VALUES ('t5', 'topup', 'la1', 'la2', 0, 'TWD', '2025-01', '${T}')`)).toBe('23514');
    expect(await violation(`INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, currency, cycle, created_at)
      VALUES ('t6', 'post', 'la1', 'la2', 5, 'TWD', '2025-01', '${T}')`)).toBe('23514');
    expect(await violation(`INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, currency, cycle, created_at)
      VALUES ('t7', 'topup', 'la1', 'la1', 5, 'TWD', '2025-01', '${T}')`)).toBe('23514');
    expect(await violation("UPDATE payments SET status = 'lost' WHERE id = 'p1'")).toBe('23514');
  });

  it('a dial keeps a NULL number index (a number no longer re-derivable after a key rotation)', async () => {
    await execute(pool, "INSERT INTO dials (payment_id, attempt, consumer_id, merchant_id, number_index, created_at) VALUES ('p1', 1, 'c1', 'm1', NULL, $1)", [T]);
    expect(await queryOne(pool, 'SELECT number_index FROM dials')).toEqual({ number_index: null });
  });

  it('BIGINT money and counts come back as JavaScript numbers; byte columns as Buffers', async () => {
    const row = await queryOne<{ amount: number; n: number; hash: Buffer }>(pool,
      "SELECT p.amount, (SELECT count(*) FROM payments) AS n, a.hash FROM payments p, audit_log a WHERE p.id = 'p1'");
    expect(row).toEqual({ amount: Number.MAX_SAFE_INTEGER, n: 1, hash: Buffer.from([1]) });
    await expect(pool.query('SELECT 9007199254740993::bigint AS big')).rejects.toThrow(RangeError);
  });
});

describe('PostgreSQL and SQLite schemas', () => {
  /** integer/bigint/smallint are one kind: both stores hand JavaScript numbers to the repositories. */
  const kind = (t: string) => {
    const u = t.toUpperCase();
    if (/INT/.test(u)) return 'integer';
    if (u === 'TEXT') return 'text';
    if (u === 'BLOB' || u === 'BYTEA') return 'bytes';
    return u.toLowerCase();
  };
  /** Columns nullable in PostgreSQL on purpose, whatever SQLite says: SQLite's 007 makes them nullable there too. */
  const NULLABLE_IN_PG = new Set(['dials.number_index']);

  it('have the same tables and the same columns, of the same kind and nullability', async () => {
    const sqlite = new Database(':memory:');
    applyMigrations(sqlite);
    const sqliteTables = (sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .pluck().all() as string[]);
    const fromSqlite = new Map<string, string[]>();
    for (const table of sqliteTables) {
      const cols = sqlite.pragma(`table_info(${table})`) as Array<{ name: string; type: string; notnull: number; pk: number }>;
      fromSqlite.set(table, cols.map((c) => {
        const id = `${table}.${c.name}`;
        const notNull = (c.notnull === 1 || c.pk > 0) && !NULLABLE_IN_PG.has(id);
        return `${c.name} ${kind(c.type)}${notNull ? ' not null' : ''}`;
      }).sort());
    }
    sqlite.close();

    const pool = await freshPool();
    await applyPgMigrations(pool);
    const rows = await queryRows<{ table_name: string; column_name: string; data_type: string; is_nullable: string }>(pool, `
      SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
      WHERE table_schema = 'public' ORDER BY table_name, column_name`);
    const fromPg = new Map<string, string[]>();
    for (const r of rows) {
      const cols = fromPg.get(r.table_name) ?? [];
      cols.push(`${r.column_name} ${kind(r.data_type)}${r.is_nullable === 'NO' ? ' not null' : ''}`);
      fromPg.set(r.table_name, cols);
    }
    for (const cols of fromPg.values()) cols.sort();

    expect([...fromPg.keys()].sort()).toEqual([...fromSqlite.keys()].sort());
    for (const [table, cols] of fromSqlite) expect(fromPg.get(table), table).toEqual(cols);
  });
});

describe('withPgTransaction', () => {
  it('commits the work, returns its result, then runs afterCommit', async () => {
    const pool = await freshPool();
    await execute(pool, 'CREATE TABLE t (k text PRIMARY KEY)');
    const order: string[] = [];
    const result = await withPgTransaction(pool, async (tx) => {
      await execute(tx, "INSERT INTO t VALUES ('a')");
      tx.afterCommit(() => order.push('after'));
      order.push('work');
      return 42;
    });
    expect(result).toBe(42);
    expect(order).toEqual(['work', 'after']);
    expect(await queryRows(pool, 'SELECT k FROM t')).toEqual([{ k: 'a' }]);
    expectAllReleased(pool);
  });

  it('a failed nested unit undoes only its own writes (savepoint); the outer one commits', async () => {
    const pool = await freshPool();
    await execute(pool, 'CREATE TABLE t (k text PRIMARY KEY)');
    const ran: string[] = [];
    await withPgTransaction(pool, async (tx) => {
      await execute(tx, "INSERT INTO t VALUES ('outer')");
      await expect(tx.withTransaction(async (inner) => {
        await execute(inner, "INSERT INTO t VALUES ('inner')");
        inner.afterCommit(() => ran.push('inner'));
        // a constraint error inside the savepoint: the transaction goes on after ROLLBACK TO
        await execute(inner, "INSERT INTO t VALUES ('outer')");
      })).rejects.toMatchObject({ code: '23505' });
      await tx.withTransaction(async (kept) => {
        await execute(kept, "INSERT INTO t VALUES ('kept')");
        kept.afterCommit(() => ran.push('kept'));
      });
    });
    expect((await queryRows<{ k: string }>(pool, 'SELECT k FROM t ORDER BY k')).map((r) => r.k)).toEqual(['kept', 'outer']);
    expect(ran).toEqual(['kept']);
    expectAllReleased(pool);
  });

  it('an error rolls back everything, is rethrown as is, skips afterCommit and releases the client', async () => {
    const pool = await freshPool(2);
    await execute(pool, 'CREATE TABLE t (k text PRIMARY KEY)');
    let after = false;
    const boom = new Error('boom');
    await expect(withPgTransaction(pool, async (tx) => {
      await execute(tx, "INSERT INTO t VALUES ('a')");
      tx.afterCommit(() => { after = true; });
      throw boom;
    })).rejects.toBe(boom);
    expect(after).toBe(false);
    expect(await queryRows(pool, 'SELECT k FROM t')).toEqual([]);
    // more failures than the pool has clients: each was given back
    for (let i = 0; i < 5; i++) {
      await expect(withPgTransaction(pool, (tx) => tx.query('SELECT 1/0'))).rejects.toMatchObject({ code: '22012' });
    }
    expectAllReleased(pool);
    expect(pool.totalCount).toBeLessThanOrEqual(2);
  });

  /** Write skew: each reads one row and writes the other; SERIALIZABLE lets only one of them commit as is. */
  async function writeSkew(pool: PgPool, maxAttempts: number): Promise<{ results: PromiseSettledResult<void>[]; attempts: number }> {
    await execute(pool, 'CREATE TABLE IF NOT EXISTS skew (k int PRIMARY KEY, v int NOT NULL)');
    await execute(pool, 'TRUNCATE skew; INSERT INTO skew VALUES (1, 0), (2, 0)');
    const bothRead = barrier(2);
    let attempts = 0;
    const side = (read: number, write: number) => withPgTransaction(pool, async (tx: PgTx) => {
      const first = ++attempts <= 2;
      await queryOne(tx, 'SELECT v FROM skew WHERE k = $1', [read]);
      // only the first round meets in step: a retry must not wait for a partner that already finished
      if (first) await bothRead();
      await execute(tx, 'UPDATE skew SET v = v + 1 WHERE k = $1', [write]);
    }, { isolation: 'serializable', maxAttempts });
    const results = await Promise.allSettled([side(1, 2), side(2, 1)]);
    return { results, attempts };
  }

  it('retries a serialization failure (40001) of two concurrent SERIALIZABLE transactions until both commit', async () => {
    const pool = await freshPool();
    const { results, attempts } = await writeSkew(pool, 5);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(await queryRows(pool, 'SELECT k, v FROM skew ORDER BY k')).toEqual([{ k: 1, v: 1 }, { k: 2, v: 1 }]);
    expectAllReleased(pool);
  });

  it('gives up after maxAttempts with the serialization failure as the cause', async () => {
    const pool = await freshPool();
    const { results } = await writeSkew(pool, 1);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toBeInstanceOf(TransactionRetriesExhausted);
    expect(sqlState((failed[0]!.reason as TransactionRetriesExhausted).last)).toBe('40001');
    expectAllReleased(pool);
  });

  it('retries the loser of a deadlock (40P01)', async () => {
    const pool = await freshPool();
    await execute(pool, 'CREATE TABLE locks (k int PRIMARY KEY, v int NOT NULL); INSERT INTO locks VALUES (1, 0), (2, 0)');
    const bothLocked = barrier(2);
    let attempts = 0;
    const side = (first: number, second: number) => withPgTransaction(pool, async (tx) => {
      const inStep = ++attempts <= 2;
      await execute(tx, 'UPDATE locks SET v = v + 1 WHERE k = $1', [first]);
      if (inStep) await bothLocked();
      await execute(tx, 'UPDATE locks SET v = v + 1 WHERE k = $1', [second]);
    });
    await Promise.all([side(1, 2), side(2, 1)]);
    expect(attempts).toBe(3);
    expect(await queryRows(pool, 'SELECT k, v FROM locks ORDER BY k')).toEqual([{ k: 1, v: 2 }, { k: 2, v: 2 }]);
    expectAllReleased(pool);
  });
});
