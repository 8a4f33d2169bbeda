import { afterAll, beforeAll } from 'vitest';
import Database from 'better-sqlite3';
import { openPgPool } from '../../src/store/pg/db.js';
import { startPostgres, type PgCluster } from './postgres.js';

/**
 * The stores a whole-daemon test world can run on, and the one throw-away PostgreSQL cluster a test
 * file shares between its postgres worlds (each world gets a fresh database in it).
 */

export type WorldStore = 'sqlite' | 'postgres';
/** For `describe.each(WORLD_STORES)`: the API and end-to-end tests run on both stores. */
export const WORLD_STORES = ['sqlite', 'postgres'] as const satisfies readonly WorldStore[];

/** Per test file: vitest (pool "forks", isolated) loads this module once for each file. */
let cluster: PgCluster | undefined;
let notStarted: unknown;
let registered = false;

/**
 * Registers the file's hooks (call at the top level of a test file with postgres worlds): the cluster
 * starts once before the file's tests and stops after them, each bounded. A cluster that cannot
 * start fails each postgres world by name, and the SQLite ones still run.
 */
export function usePgWorlds(): void {
  registered = true;
  beforeAll(async () => {
    try {
      cluster = await startPostgres({ readyTimeoutMs: 30_000 });
    } catch (err) {
      notStarted = err;
    }
  }, 90_000);
  afterAll(async () => {
    const running = cluster;
    cluster = undefined;
    // stop() is bounded itself: fast shutdown 15 s, then SIGKILL 5 s
    await running?.stop();
  }, 30_000);
}

export interface PgWorldDatabase {
  /** The settings of every callpay process on this database: the URL without the password, which goes apart. */
  env: Record<string, string>;
  /** With the password: for the test's own connection only. */
  url: string;
}

/** A new empty database on the file's cluster, and the settings that point callpay at it. */
export async function newPgWorldDatabase(): Promise<PgWorldDatabase> {
  if (notStarted !== undefined) throw notStarted;
  if (!cluster) {
    throw new Error(registered
      ? 'the test file\'s PostgreSQL cluster is not running (its beforeAll has not run or afterAll already has)'
      : 'a postgres world needs usePgWorlds() at the top level of its test file');
  }
  const db = await cluster.createDatabase('callpay_world');
  const bare = new URL(db.url);
  const password = decodeURIComponent(bare.password);
  bare.password = '';
  return {
    url: db.url,
    env: { CALLPAY_STORE_DRIVER: 'postgres', CALLPAY_STORE_URL: bare.toString(), CALLPAY_STORE_PASSWORD: password },
  };
}

export type SqlParam = string | number | null;
export type SqlRow = Record<string, unknown>;

/** A test's own look at a world's rows, the same on both stores (write portable SQL, `?` placeholders). */
export interface WorldDb {
  query<R extends SqlRow = SqlRow>(sql: string, params?: SqlParam[]): Promise<R[]>;
  close(): Promise<void>;
}

export function sqliteWorldDb(file: string, opts: { readonly?: boolean } = {}): WorldDb & { sqlite: Database.Database } {
  const sqlite = new Database(file, { readonly: opts.readonly ?? false });
  return {
    sqlite,
    async query<R extends SqlRow>(sql: string, params: SqlParam[] = []) {
      return sqlite.prepare(sql).all(...params) as R[];
    },
    async close() {
      sqlite.close();
    },
  };
}

/** BIGINT (COUNT(*), money) arrives as a number, as from SQLite: the store's own pool settings. */
export function pgWorldDb(url: string): WorldDb {
  const pool = openPgPool({ url, max: 2 });
  return {
    async query<R extends SqlRow>(sql: string, params: SqlParam[] = []) {
      return (await pool.query<R>(dollarPlaceholders(sql), params)).rows;
    },
    async close() {
      await pool.end();
    },
  };
}

/** `?` → `$1`, `$2`, … outside quoted strings and identifiers. */
export function dollarPlaceholders(sql: string): string {
  let n = 0;
  let out = '';
  let quote: string | null = null;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else {
      out += ch === '?' ? `$${++n}` : ch;
    }
  }
  return out;
}
