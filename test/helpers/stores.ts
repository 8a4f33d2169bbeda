import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Keyring } from '../../src/crypto/keyring.js';
import type { Clock } from '../../src/domain/clock.js';
import type { FieldCrypto } from '../../src/store/field-crypto.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { PgStore, openPgStore } from '../../src/store/pg/pg-store.js';
import type { Store } from '../../src/payments/repositories.js';
import type { PgCluster } from './postgres.js';

export type StoreDriver = 'sqlite' | 'postgres';

export interface TestStoreOptions {
  /** PostgreSQL: the test file's own cluster (one per file); each new store gets a new database in it. */
  cluster?: PgCluster;
  /** Open this existing database (a SQLite file or a PostgreSQL URL) instead of a new one. */
  at?: string;
  /** Default: a new random master key. */
  crypto?: FieldCrypto;
  clock?: Clock;
  cycleOf?(at: Date): string;
  webhookRetryForHours?: number;
  /** PostgreSQL: connections of this store's pool. Default 4. */
  poolMax?: number;
}

/** A whole store of either kind, and what a test needs to open the same database again or look into it. */
export type TestStore = Store & {
  /** The SQLite file or the PostgreSQL URL. */
  readonly location: string;
  readonly crypto: FieldCrypto;
  /**
   * Runs one statement with the append-only triggers out of the way: what an attacker holding the
   * file, or a PostgreSQL superuser, could do. `?` placeholders, for both kinds.
   */
  tamper(sql: string, ...params: Array<string | number | Buffer | null>): Promise<void>;
};

/**
 * Opens a store of either kind for a test: SQLite in a temp directory of its own (removed by
 * `close()`), or PostgreSQL in a new database of `opts.cluster`.
 */
export async function openTestStore(driver: StoreDriver, opts: TestStoreOptions = {}): Promise<TestStore> {
  const crypto = opts.crypto ?? (await Keyring.fromMasterKey(new Uint8Array(randomBytes(32))));
  const deps = {
    crypto,
    clock: opts.clock ?? (() => new Date()),
    cycleOf: opts.cycleOf ?? ((at: Date) => at.toISOString().slice(0, 7)),
    webhookRetryForHours: opts.webhookRetryForHours ?? 72,
  };
  if (driver === 'sqlite') {
    const dir = opts.at ? undefined : mkdtempSync(join(tmpdir(), 'callpay-store-'));
    const path = opts.at ?? join(dir!, 'callpay.db');
    let store;
    try {
      store = openSqliteStore({ path, ...deps });
    } catch (e) {
      if (dir) rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    const close = store.close.bind(store);
    return Object.assign(store, {
      location: path,
      crypto,
      close: async () => {
        await close();
        if (dir) rmSync(dir, { recursive: true, force: true });
      },
      tamper: async (sql: string, ...params: Array<string | number | Buffer | null>) => {
        const db = new Database(path);
        try {
          const triggers = db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%RAISE%'").pluck().all() as string[];
          db.transaction(() => {
            const saved = triggers.map((name) => db.prepare('SELECT sql FROM sqlite_master WHERE name = ?').pluck().get(name) as string);
            for (const name of triggers) db.exec(`DROP TRIGGER "${name}"`);
            db.prepare(sql).run(...params);
            for (const s of saved) db.exec(s);
          })();
        } finally {
          db.close();
        }
      },
    });
  }
  if (!opts.cluster && !opts.at) throw new Error('openTestStore: a PostgreSQL store needs opts.cluster or opts.at');
  const url = opts.at ?? (await opts.cluster!.createDatabase()).url;
  const store = await openPgStore({ url, poolMax: opts.poolMax ?? 4, deps });
  return Object.assign(store, {
    location: url,
    crypto,
    tamper: async (sql: string, ...params: Array<string | number | Buffer | null>) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        // Triggers (the append-only ones included) do not fire for a session in replica mode; superuser only.
        await client.query('SET session_replication_role = replica');
        let n = 0;
        await client.query(sql.replace(/\?/g, () => `$${++n}`), params);
      } finally {
        await client.end();
      }
    },
  });
}

/**
 * A second "node" on the same database with the same key: for PostgreSQL a second store with its own
 * pool. For SQLite the same store: one process holds one connection, and better-sqlite3 would block
 * the thread on a second connection's lock while the first one's transaction awaits.
 */
export async function secondNode(first: TestStore, driver: StoreDriver, opts: Omit<TestStoreOptions, 'at' | 'crypto'> = {}): Promise<TestStore> {
  if (driver === 'sqlite') return new Proxy(first, { get: (target, name) => (name === 'close' ? async () => {} : Reflect.get(target, name)) });
  return openTestStore(driver, { ...opts, at: first.location, crypto: first.crypto });
}

/** Sessions of this PostgreSQL database waiting on a lock (row or advisory): a contender seen blocked. */
export async function lockWaiters(store: Store): Promise<number> {
  if (!(store instanceof PgStore)) return 0;
  const r = await store.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()");
  return r.rows[0]?.n ?? 0;
}
