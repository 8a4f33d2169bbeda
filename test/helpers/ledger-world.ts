import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring } from '../../src/crypto/keyring.js';
import type { FieldCrypto } from '../../src/store/field-crypto.js';
import { aad } from '../../src/store/field-crypto.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { openPgPool, withPgTransaction, type PgPool, type PgQueryable, type PgValue } from '../../src/store/pg/db.js';
import { applyPgMigrations } from '../../src/store/pg/migrations.js';
import type { PgRepoDeps } from '../../src/store/pg/deps.js';
import { PgLedger } from '../../src/store/pg/ledger.js';
import { PgAccountRepository } from '../../src/store/pg/accounts.js';
import { PgBillingRepository } from '../../src/store/pg/billing.js';
import { PgCallRepository } from '../../src/store/pg/calls.js';
import { PgAttemptLimitRepository, PgDialRepository } from '../../src/store/pg/dials.js';
import { PgKeyMaintenance } from '../../src/store/pg/rekey.js';
import type { KeyMaintenance } from '../../src/domain/key-rotation.js';
import type { Repositories } from '../../src/payments/repositories.js';
import type { BillableAccount, NewAccount } from '../../src/domain/account.js';
import type { HoldResult } from '../../src/domain/ledger.js';
import { startPostgres, type PgCluster } from './postgres.js';

/**
 * The ledger, accounts, billing, call-record, dial, attempt-limit and key-rotation repositories of
 * either store on one database, with just enough raw SQL to make the rows they point at (consumers,
 * merchants, payments, refunds) without the other repositories. A "site" is one database; each
 * `node()` on it is another connection (a second SqliteStore on the file, a second pg pool): two
 * callpay nodes sharing the store.
 */
export type Repos = Pick<Repositories, 'ledger' | 'accounts' | 'billing' | 'callRecords' | 'dials' | 'attemptLimits'>;

export interface Node extends Repos {
  keys: KeyMaintenance;
  /** One transaction with the repositories bound to it. */
  inTx<T>(work: (r: Repos) => Promise<T>): Promise<T>;
  /** Raw SQL with `?` placeholders, for fixtures; the rows it returns. */
  sql(text: string, values?: PgValue[]): Promise<Array<Record<string, unknown>>>;
}

export interface Site {
  /** The clock every node of the site reads; tests move it. */
  clock: { now: Date };
  node(crypto?: FieldCrypto): Promise<Node>;
  dispose(): Promise<void>;
}

export type SiteFactory = (crypto: FieldCrypto) => Promise<Site>;

export const cycleOf = (d: Date): string => d.toISOString().slice(0, 7);

export async function newKeyring(previous: Uint8Array[] = []): Promise<{ keyring: Keyring; master: Uint8Array }> {
  const master = randomBytes(32);
  return { keyring: await Keyring.fromMasterKey(master, previous), master };
}

export function sqliteSite(): SiteFactory {
  return async (crypto) => {
    const dir = mkdtempSync(join(tmpdir(), 'callpay-ledger-'));
    const clock = { now: new Date('2026-03-10T10:00:00.000Z') };
    const stores: Array<{ close(): Promise<void> }> = [];
    return {
      clock,
      async node(c = crypto) {
        const store = openSqliteStore({ path: join(dir, 'callpay.db'), crypto: c, clock: () => clock.now, cycleOf, webhookRetryForHours: 24 });
        stores.push(store);
        return {
          ledger: store.ledger,
          accounts: store.accounts,
          billing: store.billing,
          callRecords: store.callRecords,
          dials: store.dials,
          attemptLimits: store.attemptLimits,
          keys: store.keys,
          inTx: (work) => store.withTransaction((tx) => work(tx)),
          async sql(text, values = []) {
            const stmt = store.db.prepare(text);
            if (stmt.reader) return stmt.all(...values) as Array<Record<string, unknown>>;
            stmt.run(...values);
            return [];
          },
        };
      },
      async dispose() {
        for (const s of stores) await s.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

/** The PostgreSQL repositories built directly on a pool (or a transaction), as PgStore will build them. */
export function pgRepos(q: PgQueryable, d: PgRepoDeps): Repos {
  const ledger = new PgLedger(q, d);
  const accounts = new PgAccountRepository(q, d, ledger);
  return {
    ledger,
    accounts,
    billing: new PgBillingRepository(q, d, accounts),
    callRecords: new PgCallRepository(q, d),
    dials: new PgDialRepository(q, d),
    attemptLimits: new PgAttemptLimitRepository(q, d),
  };
}

export function pgSite(cluster: () => PgCluster): SiteFactory {
  return async (crypto) => {
    const db = await cluster().createDatabase();
    const clock = { now: new Date('2026-03-10T10:00:00.000Z') };
    const pools: PgPool[] = [];
    const first = openPgPool({ url: db.url, max: 4 });
    pools.push(first);
    await applyPgMigrations(first);
    // What openPgStore does at start: the first key seals the canary (src/store/key-check.ts).
    await first.query("INSERT INTO meta (name, value) VALUES ('key_check', $1) ON CONFLICT DO NOTHING", [
      crypto.seal('callpay key check', aad('meta', 'value', 'key_check')),
    ]);
    return {
      clock,
      async node(c = crypto) {
        const pool = openPgPool({ url: db.url, max: 8 });
        pools.push(pool);
        const d: PgRepoDeps = { crypto: c, clock: () => clock.now, cycleOf, webhookRetryForHours: 24 };
        return {
          ...pgRepos(pool, d),
          keys: new PgKeyMaintenance(pool, d),
          inTx: (work) => withPgTransaction(pool, (tx) => work(pgRepos(tx, d))),
          async sql(text, values = []) {
            let n = 0;
            return (await pool.query(text.replace(/\?/g, () => `$${++n}`), values)).rows as Array<Record<string, unknown>>;
          },
        };
      },
      async dispose() {
        await Promise.all(pools.splice(0).map((p) => p.end()));
      },
    };
  };
}

/** Fixture rows the repositories under test point at, written with the node's own keys. */
export class Fixtures {
  private n = 0;
  constructor(
    private readonly node: Node,
    private readonly crypto: FieldCrypto,
    private readonly clock: { now: Date },
  ) {}

  async consumer(phone = '+886912345678'): Promise<string> {
    const id = `cons_${++this.n}_${randomBytes(4).toString('hex')}`;
    const c = this.crypto;
    const login = `user${id}`;
    const t = this.clock.now.toISOString();
    await this.node.sql(
      `INSERT INTO consumers (id, login_index, login_sealed, phone_index, phone_sealed, national_id_sealed, address_sealed,
         pin_hash, locale, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'en-US', 'active', ?, ?)`,
      [id, c.blindIndex('login', login), c.seal(login, aad('consumers', 'login', id)), c.blindIndex('phone', phone),
        c.seal(phone, aad('consumers', 'phone', id)), c.seal('A123456789', aad('consumers', 'national_id', id)),
        c.seal('1 Road', aad('consumers', 'address', id)), '$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA', t, t],
    );
    return id;
  }

  async changePhone(consumerId: string, phone: string): Promise<void> {
    await this.node.sql('UPDATE consumers SET phone_index = ?, phone_sealed = ? WHERE id = ?', [
      this.crypto.blindIndex('phone', phone), this.crypto.seal(phone, aad('consumers', 'phone', consumerId)), consumerId,
    ]);
  }

  async merchant(name = 'Tea Stall'): Promise<string> {
    const id = `mer_${++this.n}_${randomBytes(4).toString('hex')}`;
    const t = this.clock.now.toISOString();
    await this.node.sql("INSERT INTO merchants (id, display_name, spoken_name, status, created_at, updated_at) VALUES (?, ?, ?, 'active', ?, ?)", [id, name, name, t, t]);
    return id;
  }

  async payment(merchantId: string, consumerId: string | null, accountId: string | null, amount: number, currency = 'TWD'): Promise<string> {
    const id = `pay_${++this.n}_${randomBytes(4).toString('hex')}`;
    const t = this.clock.now.toISOString();
    await this.node.sql(
      `INSERT INTO payments (id, merchant_id, amount, currency, reference, description, return_url, metadata, consumer_id,
         billable_account_id, status, live, expires_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, 'Tea', 'https://shop.example/', '{}', ?, ?, 'calling', 1, ?, ?, ?)`,
      [id, merchantId, amount, currency, `ref-${id}`, consumerId, accountId, t, t, t],
    );
    return id;
  }

  async refundRow(paymentId: string, amount: number): Promise<string> {
    const id = `re_${++this.n}_${randomBytes(4).toString('hex')}`;
    await this.node.sql('INSERT INTO refunds (id, payment_id, amount, reason, created_at) VALUES (?, ?, ?, NULL, ?)', [id, paymentId, amount, this.clock.now.toISOString()]);
    return id;
  }
}

/** `code/field` of a CallpayError a promise rejects with ('resolved' if it does not): tests assert codes, not messages. */
export const code = (p: Promise<unknown>): Promise<string> =>
  p.then(() => 'resolved', (e: { code?: string; field?: string }) => `${e.code}/${e.field}`);

/** One throw-away PostgreSQL cluster for the calling test file, and the SQLite and PostgreSQL site factories. */
export function bothDrivers(): Array<[string, SiteFactory]> {
  let cluster: PgCluster | undefined;
  let notStarted: unknown;
  beforeAll(async () => {
    try {
      cluster = await startPostgres();
    } catch (err) {
      notStarted = err;
    }
  }, 60_000);
  afterAll(async () => { await cluster?.stop(); }, 30_000);
  return [
    ['sqlite', sqliteSite()],
    ['postgres', pgSite(() => {
      if (!cluster) throw notStarted ?? new Error('no PostgreSQL cluster');
      return cluster;
    })],
  ];
}

/** A fresh site (database), its first node and fixtures per test; the fields are replaced before each test. */
export interface World {
  crypto: FieldCrypto;
  master: Uint8Array;
  site: Site;
  node: Node;
  fx: Fixtures;
  account(consumerId: string, o?: Partial<NewAccount>): NewAccount;
  /** A consumer with one prepaid account topped up with `balance`, and a merchant. */
  prepaid(balance: number): Promise<{ consumer: string; merchant: string; acct: BillableAccount }>;
}

export function useWorld(factory: SiteFactory): World {
  let numbers = 0;
  const w = {
    account: (consumerId: string, o: Partial<NewAccount> = {}): NewAccount => ({
      consumerId, kind: 'mobile', number: `0912${String(++numbers).padStart(6, '0')}`, plan: 'prepaid', currency: 'TWD', creditLimit: null, makeDefault: false, ...o,
    }),
    async prepaid(balance: number) {
      const consumer = await w.fx.consumer();
      const merchant = await w.fx.merchant();
      const acct = await w.node.accounts.add(w.account(consumer));
      if (balance > 0) await w.node.accounts.topup(acct.id, balance, 'top-up');
      return { consumer, merchant, acct };
    },
  } as World;
  beforeEach(async () => {
    const { keyring, master } = await newKeyring();
    w.crypto = keyring;
    w.master = master;
    w.site = await factory(keyring);
    w.node = await w.site.node();
    w.fx = new Fixtures(w.node, keyring, w.site.clock);
  });
  afterEach(async () => { await w.site?.dispose(); });
  return w;
}

export const holdFor = (n: Node, paymentId: string, merchantId: string, billableAccountId: string, amount: number, currency = 'TWD'): Promise<HoldResult> =>
  n.ledger.hold({ paymentId, merchantId, billableAccountId, amount, currency });
