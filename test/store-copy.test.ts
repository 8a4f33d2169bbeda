import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { summarizeFile } from '../src/store/backup.js';
import { copySqliteToPostgres, pgLedgerSummary } from '../src/store/copy.js';
import { applyMigrations, MIGRATIONS } from '../src/store/migrations.js';
import { openPgPool, withPgTransaction } from '../src/store/pg/db.js';
import { PG_MIGRATIONS } from '../src/store/pg/migrations.js';
import { openPgStore } from '../src/store/pg/pg-store.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import { loadKeyring, readConfig } from '../src/wiring/context.js';
import { enrolPrepaid, eventually, startWorld, type TestWorld } from './helpers/daemon.js';
import { runCli, tempDir, type CliResult } from './helpers/cli.js';
import { startPostgres, type PgCluster } from './helpers/postgres.js';

/**
 * `callpay store copy` and `callpay migrate` against a throw-away PostgreSQL 15 cluster of this file's
 * own: a SQLite database filled through the real CLI and daemon (payments charged and declined) is
 * copied, and the copy is checked by the test itself: rows per table, sealed bytes, the ledger
 * checksum, the identity sequences, and a PostgreSQL store reading a consumer back.
 */

let cluster: PgCluster;
let notStarted: unknown;
let w: TestWorld;
let source: string;

beforeAll(async () => {
  try {
    cluster = await startPostgres();
  } catch (err) {
    notStarted = err;
    return;
  }
  w = await startWorld({ CALLPAY_RATE_LIMIT_BURST: '1000' });
  await enrolPrepaid(w, 'alice', '5000');
  await enrolPrepaid(w, 'bob', '20');
  const outcomes = [{ kind: 'approved' }, { kind: 'approved' }, { kind: 'declined' }, { kind: 'approved' }] as const;
  for (const [i, outcome] of outcomes.entries()) {
    w.engine.script.push(outcome);
    const r = await w.api('POST', '/v1/payments', {
      body: { amount: 120 + i, currency: 'TWD', reference: `copy-${i}`, description: 'Tea', return_url: 'https://shop.example/', login_account: i === 2 ? 'bob' : 'alice' },
      idem: `copy-${i}`,
    });
    expect(r.status).toBe(201);
  }
  await eventually(() => expect(w.db.prepare("SELECT count(*) FROM payments WHERE status IN ('calling', 'requires_consumer')").pluck().get()).toBe(0), 30_000);
  // The operator stops the daemon before moving its data.
  await w.daemon.stop();
  w.db.close();
  await w.ctx.close();
  source = join(w.dir, 'callpay.db');
}, 120_000);
beforeEach(() => {
  if (notStarted) throw notStarted;
});
afterAll(async () => {
  await cluster?.stop();
  if (w) rmSync(w.dir, { recursive: true, force: true });
}, 30_000);

/** The cluster's URL split the way an operator configures it: no password in the URL. */
function split(url: string): { url: string; password: string } {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  return { url: u.toString(), password };
}

function cli(args: string[], env: Record<string, string> = {}, cwd = w.dir): Promise<CliResult> {
  return runCli(args, { cwd, env: { CALLPAY_ARGON2_WORKERS: '1', ...env }, logLevel: 'silent' });
}

async function freshTarget(): Promise<{ url: string; password: string; full: string }> {
  const db = await cluster.createDatabase('callpay_copy');
  return { ...split(db.url), full: db.url };
}

async function withClient<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

/** Rows per table of the SQLite file, and a digest of every row, read by the test itself. */
function sqliteCounts(file: string): Record<string, number> {
  const db = new Database(file, { readonly: true });
  try {
    const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name").pluck().all() as string[];
    return Object.fromEntries(names.map((n) => [n, db.prepare(`SELECT count(*) FROM "${n}"`).pluck().get() as number]));
  } finally {
    db.close();
  }
}

/** Rows per table and an md5 of all rows of each: "nothing changed" checks on the target. */
async function pgState(url: string): Promise<Record<string, string>> {
  return withClient(url, async (c) => {
    const tables = (await c.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1")).rows.map((r) => r.t);
    const state: Record<string, string> = {};
    for (const t of tables) {
      const r = await c.query<{ n: string; h: string | null }>(`SELECT count(*) AS n, md5(string_agg(x::text, ',' ORDER BY x::text)) AS h FROM "${t}" x`);
      state[t] = `${r.rows[0]?.n}:${r.rows[0]?.h}`;
    }
    return state;
  });
}

interface CopyJson {
  tables: Record<string, number>;
  ledger: { accounts: number; transfers: number; balanced: boolean; checksum: string };
  source_schema_version: number;
  target_schema_version: number;
}

describe('callpay store copy', () => {
  let target: { url: string; password: string; full: string };

  it('copies every table into an empty PostgreSQL database, sealed bytes as they are, verified by counts and the ledger checksum', async () => {
    target = await freshTarget();
    const r = await cli(['store', 'copy', '--from', 'sqlite', '--to', `postgres:${target.url}`, '--json'], { CALLPAY_STORE_PASSWORD: target.password });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as CopyJson;
    const counts = sqliteCounts(source);
    expect(report.tables).toEqual(counts);
    expect(counts.payments).toBe(4);
    expect(counts.transfers).toBeGreaterThanOrEqual(2 + 3 * 2); // top-ups, and a hold and its post per charge
    expect(report.source_schema_version).toBe(Math.max(...MIGRATIONS.map((m) => m.version)));
    expect(report.target_schema_version).toBe(Math.max(...PG_MIGRATIONS.map((m) => m.version)));

    // The test's own look at the target: counts, and the same ledger as backup.ts reads from SQLite.
    const backupView = summarizeFile(source);
    expect(report.ledger).toEqual(backupView.ledger);
    expect(backupView.ledger.balanced).toBe(true);
    const state = await pgState(target.full);
    for (const [t, n] of Object.entries(counts)) expect(state[t]?.split(':')[0], t).toBe(String(n));
    const pool = openPgPool({ url: target.full, max: 1 });
    try {
      expect(await withPgTransaction(pool, (tx) => pgLedgerSummary(tx, 3))).toEqual(backupView.ledger);
    } finally {
      await pool.end();
    }

    await withClient(target.full, async (c) => {
      const db = new Database(source, { readonly: true });
      try {
        // Sealed values and indexes byte for byte, the key canary included.
        for (const [sql, pgSql] of [
          ['SELECT id, login_sealed, phone_sealed, phone_index FROM consumers ORDER BY id', 'SELECT id, login_sealed, phone_sealed, phone_index FROM consumers ORDER BY id'],
          ["SELECT name, value FROM meta ORDER BY name", 'SELECT name, value FROM meta ORDER BY name'],
        ] as const) {
          expect((await c.query({ text: pgSql, rowMode: 'array' })).rows).toEqual(db.prepare(sql).raw().all());
        }
        // Identity sequences moved past the copied ids: the next event gets the next number.
        const maxSeq = db.prepare('SELECT max(seq) FROM events').pluck().get() as number;
        expect(maxSeq).toBeGreaterThan(0);
        const next = await c.query<{ v: string }>("SELECT nextval(pg_get_serial_sequence('events', 'seq')) AS v");
        expect(Number(next.rows[0]?.v)).toBe(maxSeq + 1);
      } finally {
        db.close();
      }
    });
  }, 60_000);

  it('a PostgreSQL store opened on the copy reads the consumers back with the same key', async () => {
    const env = { CALLPAY_ARGON2_WORKERS: '1' };
    const keyring = await loadKeyring(readConfig({}, { cwd: w.dir, env }), env);
    const deps = { crypto: keyring, clock: () => new Date(), cycleOf: (at: Date) => at.toISOString().slice(0, 7), webhookRetryForHours: 72 };
    const sqlite = openSqliteStore({ path: source, ...deps });
    const store = await openPgStore({ url: target.full, poolMax: 2, deps });
    try {
      const alice = await sqlite.consumers.findByLogin('alice');
      expect(alice?.phone).toBe('+886912345678');
      const copied = await store.consumers.findByLogin('alice');
      expect(copied).toEqual(alice);
      expect(await store.consumers.findByPhone('+886912345678')).toHaveLength(2);
    } finally {
      await store.close();
      await sqlite.close();
    }
  }, 30_000);

  it('refuses a second copy into the same database, changing nothing', async () => {
    const before = await pgState(target.full);
    const r = await cli(['store', 'copy', '--from', `sqlite:${source}`, '--to', target.url], { CALLPAY_STORE_PASSWORD: target.password });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^callpay: to: .*already holds callpay rows.*\[already_exists\]\n$/);
    expect(await pgState(target.full)).toEqual(before);
  }, 30_000);

  it('refuses a source the configured key does not open, a URL with a password, and a source from a newer build', async () => {
    const fresh = await freshTarget();
    const wrongKey = await cli(['store', 'copy', '--from', 'sqlite', '--to', `postgres:${fresh.url}`], {
      CALLPAY_STORE_PASSWORD: fresh.password,
      CALLPAY_MASTER_KEY: randomBytes(32).toString('hex'),
    });
    expect(wrongKey.stderr).toMatch(/^callpay: from: .*\[key_invalid\]\n$/);
    const withPassword = await cli(['store', 'copy', '--from', 'sqlite', '--to', `postgres:${fresh.full}`]);
    expect(withPassword.stderr).toMatch(/^callpay: to: .*password.*\[invalid_field\]\n$/);
    expect((await cli(['store', 'copy', '--from', 'mysql:x', '--to', 'postgres'])).stderr).toMatch(/^callpay: from: .*\[invalid_field\]\n$/);

    const dir = tempDir();
    try {
      const newer = join(dir.path, 'newer.db');
      const db = new Database(source, { readonly: true });
      await db.backup(newer);
      db.close();
      const n = new Database(newer);
      n.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, ?, ?)').run('from the future', new Date().toISOString());
      n.close();
      const r = await cli(['store', 'copy', '--from', `sqlite:${newer}`, '--to', `postgres:${fresh.url}`], { CALLPAY_STORE_PASSWORD: fresh.password });
      expect(r.stderr).toMatch(/^callpay: from: .*migration 999.*\[backup_too_new\]\n$/);
    } finally {
      dir.remove();
    }
    // The refusals above came before the target was touched: it has no schema yet.
    expect(await pgState(fresh.full)).toEqual({});
    // A column on one side only: named, nothing copied.
    const env = { CALLPAY_STORE_DRIVER: 'postgres', CALLPAY_STORE_URL: fresh.url, CALLPAY_STORE_PASSWORD: fresh.password };
    expect((await cli(['migrate'], env)).code).toBe(0);
    await withClient(fresh.full, (c) => c.query('ALTER TABLE refunds ADD COLUMN note text'));
    const differs = await cli(['store', 'copy', '--from', 'sqlite', '--to', `postgres:${fresh.url}`], { CALLPAY_STORE_PASSWORD: fresh.password });
    expect(differs.stderr).toMatch(/^callpay: to: .*refunds\.note only in PostgreSQL.*\[invalid_state\]\n$/);
    // Nothing was written into the target by any refusal: no rows in any table.
    for (const [t, s] of Object.entries(await pgState(fresh.full))) if (t !== 'schema_migrations') expect(s, t).toMatch(/^0:/);
  }, 60_000);

  it('refuses a source written to during the copy, leaving the target empty', async () => {
    const fresh = await freshTarget();
    const env = { CALLPAY_ARGON2_WORKERS: '1' };
    const keyring = await loadKeyring(readConfig({}, { cwd: w.dir, env }), env);
    const writer = new Database(source);
    let wrote = false;
    try {
      const copy = copySqliteToPostgres({
        from: source, toUrl: fresh.full, toLabel: fresh.url, crypto: keyring, batchRows: 2,
        onBatch: () => {
          if (wrote) return;
          wrote = true;
          // Another process (a daemon left running) commits while the copy reads its snapshot.
          writer.prepare("INSERT INTO attempt_limits (scope, key_hash, created_at) VALUES ('test', ?, ?)").run(randomBytes(32), new Date().toISOString());
        },
      });
      await expect(copy).rejects.toMatchObject({ code: 'database_in_use', field: 'from' });
    } finally {
      writer.close();
    }
    for (const [t, s] of Object.entries(await pgState(fresh.full))) if (t !== 'schema_migrations') expect(s, t).toMatch(/^0:/);
    // Copied again with nobody writing: the row written meanwhile is there too.
    const again = await copySqliteToPostgres({ from: source, toUrl: fresh.full, toLabel: fresh.url, crypto: keyring, batchRows: 2 });
    expect(Object.fromEntries(again.tables.map((t) => [t.name, t.rows]))).toEqual(sqliteCounts(source));
  }, 60_000);

  it('says in --help where the password comes from', async () => {
    const r = await cli(['store', 'copy', '--help']);
    expect(r.stdout).toContain('CALLPAY_STORE_PASSWORD');
  });
});

interface MigrateJson {
  driver: string;
  version_before: number;
  version_after: number;
  applied: number[];
  newest_known: number;
}

describe('callpay migrate', () => {
  it('brings an older SQLite database up to date; a second run applies nothing', async () => {
    const dir = tempDir();
    try {
      const old = new Database(join(dir.path, 'callpay.db'));
      applyMigrations(old, { through: 3 });
      old.close();
      const newest = Math.max(...MIGRATIONS.map((m) => m.version));
      const first = JSON.parse((await cli(['migrate', '--json'], {}, dir.path)).stdout) as MigrateJson;
      expect(first).toMatchObject({ driver: 'sqlite', version_before: 3, version_after: newest, newest_known: newest });
      expect(first.applied).toEqual(MIGRATIONS.map((m) => m.version).filter((v) => v > 3));
      const second = JSON.parse((await cli(['migrate', '--json'], {}, dir.path)).stdout) as MigrateJson;
      expect(second).toMatchObject({ version_before: newest, version_after: newest, applied: [] });
      const human = await cli(['migrate'], {}, dir.path);
      expect(human.stdout).toContain('nothing to apply');

      const n = new Database(join(dir.path, 'callpay.db'));
      n.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, ?, ?)').run('from the future', new Date().toISOString());
      n.close();
      expect((await cli(['migrate'], {}, dir.path)).stderr).toMatch(/^callpay: database: .*migration 999.*\[backup_too_new\]\n$/);
    } finally {
      dir.remove();
    }
  });

  it('creates the PostgreSQL schema on an empty database; a second run applies nothing', async () => {
    const db = await freshTarget();
    const env = { CALLPAY_STORE_DRIVER: 'postgres', CALLPAY_STORE_URL: db.url, CALLPAY_STORE_PASSWORD: db.password };
    const dir = tempDir();
    try {
      const newest = Math.max(...PG_MIGRATIONS.map((m) => m.version));
      const first = await cli(['migrate', '--json'], env, dir.path);
      expect(first.stderr).toBe('');
      expect(JSON.parse(first.stdout)).toMatchObject({ driver: 'postgres', version_before: 0, version_after: newest, applied: PG_MIGRATIONS.map((m) => m.version), newest_known: newest });
      const second = JSON.parse((await cli(['migrate', '--json'], env, dir.path)).stdout) as MigrateJson;
      expect(second).toMatchObject({ version_before: newest, version_after: newest, applied: [] });
      // No key was needed or written: the database holds no canary until a node opens it.
      expect(await withClient(db.full, async (c) => (await c.query('SELECT count(*)::int AS n FROM meta')).rows[0])).toEqual({ n: 0 });
      const wrongPassword = await cli(['migrate'], { ...env, CALLPAY_STORE_PASSWORD: 'not-it' }, dir.path);
      expect(wrongPassword.stderr).toMatch(/^callpay: store\.url: .*\[invalid_state\]\n$/);
      expect(wrongPassword.stderr).not.toContain('not-it');
    } finally {
      dir.remove();
    }
  });
});
