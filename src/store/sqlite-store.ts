import type { Db } from './db.js';
import { openDatabase, openReader } from './db.js';
import type { FieldCrypto } from './field-crypto.js';
import { checkKeyMatches } from './key-check.js';
import { GroupCommit } from './group-commit.js';
import { ApiKeyCache, cachingMerchants, markingWrites } from './api-key-cache.js';
import { PaymentRepository } from './payments.js';
import { ConsumerRepository } from './consumers.js';
import { AccountRepository } from './accounts.js';
import { MerchantRepository } from './merchants.js';
import { Ledger } from './ledger.js';
import { EventRepository } from './events.js';
import { DeliveryRepository } from './deliveries.js';
import { IdempotencyRepository } from './idempotency.js';
import { CallRepository } from './calls.js';
import { AttemptLimitRepository, DialRepository } from './dials.js';
import { WebhookSecretRepository } from './webhook-secrets.js';
import { BillingRepository } from './billing.js';
import { AuditRepository } from './audit.js';
import { FraudRepository } from './fraud.js';
import { SqliteKeyMaintenance } from './rekey.js';
import type { KeyMaintenance } from '../domain/key-rotation.js';
import type { Clock } from '../domain/clock.js';
import { CallpayError } from '../domain/errors.js';
import type { Repositories, Store, Transaction } from '../payments/repositories.js';

export interface SqliteStoreOptions {
  /** The database file (created owner-only), or ':memory:'. */
  path: string;
  /** Seals personal data and builds blind indexes; the key never reaches the database. */
  crypto: FieldCrypto;
  clock: Clock;
  /** The billing cycle a transfer written at `at` belongs to. */
  cycleOf(at: Date): string;
  /** How long webhook deliveries are retried before giving up. */
  webhookRetryForHours: number;
}

/** The synchronous repositories behind the asynchronous ports: one connection, one set. */
interface SyncRepositories {
  payments: PaymentRepository;
  consumers: ConsumerRepository;
  accounts: AccountRepository;
  merchants: MerchantRepository;
  ledger: Ledger;
  events: EventRepository;
  deliveries: DeliveryRepository;
  idempotency: IdempotencyRepository;
  callRecords: CallRepository;
  dials: DialRepository;
  attemptLimits: AttemptLimitRepository;
  webhookSecrets: WebhookSecretRepository;
  billing: BillingRepository;
  audit: AuditRepository;
  fraud: FraudRepository;
}

/** How long a query outside a transaction waits for the open one before it is reported as a bug. */
const WAIT_FOR_TRANSACTION_MS = 10_000;

/**
 * The embedded store: better-sqlite3 answers synchronously, so each port method runs its statement
 * at once and hands back a settled promise; no thread hop, no extra round trip. One connection is
 * shared by the whole process, so a transaction that awaits (between its statements) must not let
 * anyone else's statement in: while one is open, calls from outside it wait until it ends.
 */
export class SqliteStore implements Store {
  readonly driver = 'sqlite';
  readonly shared = false;
  readonly db: Db;
  declare readonly payments: Repositories['payments'];
  declare readonly consumers: Repositories['consumers'];
  declare readonly accounts: Repositories['accounts'];
  declare readonly merchants: Repositories['merchants'];
  declare readonly ledger: Repositories['ledger'];
  declare readonly events: Repositories['events'];
  declare readonly deliveries: Repositories['deliveries'];
  declare readonly idempotency: Repositories['idempotency'];
  declare readonly callRecords: Repositories['callRecords'];
  declare readonly dials: Repositories['dials'];
  declare readonly attemptLimits: Repositories['attemptLimits'];
  declare readonly webhookSecrets: Repositories['webhookSecrets'];
  declare readonly billing: Repositories['billing'];
  declare readonly audit: Repositories['audit'];
  declare readonly fraud: Repositories['fraud'];
  readonly keys: KeyMaintenance;
  /** Read-only connection for reads from outside a transaction while one is open (see READS). */
  private readonly reader: Db | undefined;
  private readonly inTx: Repositories;
  private readonly group: GroupCommit;
  private waiting: Array<() => void> = [];

  constructor(db: Db, o: Omit<SqliteStoreOptions, 'path'>, reader?: Db) {
    this.db = db;
    this.reader = reader;
    const sync = repositoriesOn(db, o);
    const dataVersion = db.prepare('PRAGMA data_version').pluck();
    const apiKeys = new ApiKeyCache(() => dataVersion.get() as number);
    this.group = new GroupCommit(db, () => {
      apiKeys.groupEnded();
      this.waiting.splice(0).forEach((wake) => wake());
    });
    const outside: Gate = { busy: () => this.group.busy, later: (call) => this.afterOpen(call) };
    const merchantReads = READS.merchants ?? new Set<string>();
    // Checked here: each repository's async facade must satisfy the application's port.
    const root: Repositories = facades(sync, outside, reader ? repositoriesOn(reader, o) : undefined);
    Object.assign(this, root, { merchants: cachingMerchants(root.merchants, apiKeys, merchantReads, false) });
    const inTx: Repositories = facades(sync, null);
    this.inTx = { ...inTx, merchants: cachingMerchants(inTx.merchants, apiKeys, merchantReads, true) };
    const keys = facade(new SqliteKeyMaintenance(db, o.crypto), outside);
    // Re-keying rewrites the key hashes: the cache starts over around it, like any merchant write.
    this.keys = markingWrites(keys, apiKeys, new Set(), false);
  }

  /**
   * BEGIN IMMEDIATE (the write lock up front, so two processes never deadlock upgrading), shared by
   * the units asked for in the same turn: see GroupCommit. Settles after the COMMIT holding it.
   */
  withTransaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.group.run((after) => work(this.transaction(after, 0)));
  }

  async close(): Promise<void> {
    // Units already asked for are committed (and answered) before the connection goes.
    await this.group.drain();
    this.reader?.close();
    this.db.close();
  }

  /** Savepoints are named by depth, so their statements stay few and cached. */
  private transaction(after: Array<() => void>, depth: number): Transaction {
    return {
      ...this.inTx,
      withTransaction: async <T>(work: (tx: Transaction) => Promise<T>): Promise<T> => {
        const name = `nested${depth + 1}`;
        const mine: Array<() => void> = [];
        this.db.prepare(`SAVEPOINT ${name}`).run();
        try {
          const result = await work(this.transaction(mine, depth + 1));
          this.db.prepare(`RELEASE ${name}`).run();
          after.push(...mine);
          return result;
        } catch (e) {
          this.db.prepare(`ROLLBACK TO ${name}`).run();
          this.db.prepare(`RELEASE ${name}`).run();
          throw e;
        }
      },
      afterCommit: (fn) => void after.push(fn),
    };
  }

  /** A statement from outside while a transaction is open: run once it has ended. */
  private afterOpen(call: () => unknown): Promise<unknown> {
    return this.idle().then(() => (this.group.busy ? this.afterOpen(call) : call()));
  }

  private idle(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w !== wake);
        reject(new CallpayError('internal', `store: a statement waited ${WAIT_FOR_TRANSACTION_MS} ms for an open transaction (one that awaits slow work, or uses the store instead of its transaction)`));
      }, WAIT_FOR_TRANSACTION_MS);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiting.push(wake);
    });
  }
}

/**
 * Opens the database (migrating it), checks that the key matches it, and returns the store. Order
 * matters: a wrong key stops here, before anything is written with it.
 */
export function openSqliteStore(o: SqliteStoreOptions): SqliteStore {
  const db = openDatabase(o.path);
  try {
    checkKeyMatches(db, o.crypto);
  } catch (e) {
    db.close();
    throw e;
  }
  return new SqliteStore(db, o, o.path === ':memory:' ? undefined : openReader(o.path));
}

/** One set of synchronous repositories over a connection. */
function repositoriesOn(db: Db, o: Omit<SqliteStoreOptions, 'path'>): SyncRepositories {
  const ledger = new Ledger(db, o.clock, o.cycleOf);
  const accounts = new AccountRepository(db, o.crypto, o.clock, ledger);
  return {
    payments: new PaymentRepository(db, o.clock),
    consumers: new ConsumerRepository(db, o.crypto, o.clock),
    accounts,
    merchants: new MerchantRepository(db, o.crypto, o.clock),
    ledger,
    events: new EventRepository(db, o.clock, o.webhookRetryForHours),
    deliveries: new DeliveryRepository(db),
    idempotency: new IdempotencyRepository(db, o.clock),
    callRecords: new CallRepository(db, o.clock, o.crypto),
    dials: new DialRepository(db, o.crypto, o.clock),
    attemptLimits: new AttemptLimitRepository(db, o.crypto, o.clock),
    webhookSecrets: new WebhookSecretRepository(db, o.crypto, o.clock),
    billing: new BillingRepository(db, accounts),
    audit: new AuditRepository(db, o.crypto, o.clock),
    fraud: new FraudRepository(db),
  };
}



type Async<T> = { [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<R> : never };

/**
 * Reads that may run on the read-only connection instead of waiting for an open transaction: what
 * the hot paths read outside one (the API key of every request, a payment, its consumer and merchant).
 * They see the last committed state, as they would a moment later; a write listed here by mistake
 * fails loudly (SQLITE_READONLY) rather than slipping past the transaction.
 */
const READS: Partial<Record<keyof SyncRepositories, ReadonlySet<string>>> = {
  merchants: new Set(['get', 'find', 'findByApiKey', 'list', 'keys']),
  payments: new Set(['get', 'find', 'getForMerchant', 'list', 'transitions', 'refunds', 'recentForConsumer']),
  consumers: new Set(['get', 'find', 'findByLogin', 'pinHash', 'passwordHash']),
  accounts: new Set(['get', 'defaultFor', 'listForConsumer']),
  events: new Set(['get', 'list']),
  callRecords: new Set(['attempts', 'list']),
};

/** Every repository behind its async facade. */
function facades(sync: SyncRepositories, gate: Gate | null, readers?: SyncRepositories): { [K in keyof SyncRepositories]: Async<SyncRepositories[K]> } {
  const out: Record<string, unknown> = {};
  for (const [name, repo] of Object.entries(sync) as Array<[keyof SyncRepositories, object]>) {
    const reads = READS[name];
    out[name] = facade(repo, gate, readers && reads ? { target: readers[name], reads } : undefined);
  }
  return out as { [K in keyof SyncRepositories]: Async<SyncRepositories[K]> };
}

/** Holds statements back while a transaction they are not part of is open. */
interface Gate {
  busy(): boolean;
  later(call: () => unknown): Promise<unknown>;
}

/** The public methods of a synchronous repository, each returning a settled promise of its result. */
function facade<T extends object>(target: T, gate: Gate | null, reader?: { target: object; reads: ReadonlySet<string> }): Async<T> {
  const out: Record<string, unknown> = {};
  const settled = (self: object, fn: (...a: unknown[]) => unknown, args: unknown[]) => {
    try {
      return Promise.resolve(fn.apply(self, args));
    } catch (e) {
      return Promise.reject(e);
    }
  };
  for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(target))) {
    const method = (target as Record<string, unknown>)[name];
    if (name === 'constructor' || typeof method !== 'function') continue;
    const fn = method as (...a: unknown[]) => unknown;
    const readOnly = reader?.reads.has(name) ? reader.target : undefined;
    out[name] = (...args: unknown[]) => {
      if (gate?.busy()) return readOnly ? settled(readOnly, fn, args) : gate.later(() => fn.apply(target, args));
      return settled(target, fn, args);
    };
  }
  return out as Async<T>;
}
