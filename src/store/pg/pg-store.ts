import { aad, type FieldCrypto } from '../field-crypto.js';
import { execute, openPgPool, queryOne, withPgTransaction, type PgIsolation, type PgPool, type PgQueryable, type PgTx } from './db.js';
import type { PgRepoDeps } from './deps.js';
import { applyPgMigrations } from './migrations.js';
import { PgPaymentRepository } from './payments.js';
import { PgConsumerRepository } from './consumers.js';
import { PgAccountRepository } from './accounts.js';
import { PgMerchantRepository } from './merchants.js';
import { PgLedger } from './ledger.js';
import { PgEventRepository } from './events.js';
import { PgDeliveryRepository } from './deliveries.js';
import { PgIdempotencyRepository } from './idempotency.js';
import { PgCallRepository } from './calls.js';
import { PgAttemptLimitRepository, PgDialRepository } from './dials.js';
import { PgWebhookSecretRepository } from './webhook-secrets.js';
import { PgBillingRepository } from './billing.js';
import { PgAuditRepository } from './audit.js';
import { PgFraudRepository } from './fraud.js';
import { PgKeyMaintenance } from './rekey.js';
import type { KeyMaintenance } from '../../domain/key-rotation.js';
import { CallpayError } from '../../domain/errors.js';
import type { Repositories, Store, Transaction } from '../../payments/repositories.js';

/** Every repository on one connection: the pool (each statement on its own) or one transaction's client. */
function repositories(q: PgQueryable, d: PgRepoDeps): Repositories {
  const ledger = new PgLedger(q, d);
  const accounts = new PgAccountRepository(q, d, ledger);
  return {
    payments: new PgPaymentRepository(q, d),
    consumers: new PgConsumerRepository(q, d),
    accounts,
    merchants: new PgMerchantRepository(q, d),
    ledger,
    events: new PgEventRepository(q, d),
    deliveries: new PgDeliveryRepository(q),
    idempotency: new PgIdempotencyRepository(q, d),
    callRecords: new PgCallRepository(q, d),
    dials: new PgDialRepository(q, d),
    attemptLimits: new PgAttemptLimitRepository(q, d),
    webhookSecrets: new PgWebhookSecretRepository(q, d),
    billing: new PgBillingRepository(q, d, accounts),
    audit: new PgAuditRepository(q, d),
    fraud: new PgFraudRepository(q),
  };
}

export interface PgStoreOptions {
  pool: PgPool;
  deps: PgRepoDeps;
}

/**
 * The store for a cluster of callpay nodes on one PostgreSQL database. Outside a transaction each
 * repository runs on the pool (a method that writes several statements opens its own transaction);
 * `withTransaction` runs the work on one pooled client.
 *
 * Isolation: READ COMMITTED, PostgreSQL's default. Every repository method that reads and then
 * writes states its own concurrency control (row locks, conditional UPDATEs, unique keys, advisory
 * transaction locks), none needs a stricter level, and READ COMMITTED lets a statement that waited
 * for a lock see what its holder committed, which those methods rely on. SERIALIZABLE would add
 * aborts under contention without adding a guarantee here.
 *
 * A unit is run again, whole, after a deadlock or serialization failure (40P01/40001): its work must
 * be database writes only, with anything external in `afterCommit`.
 */
export class PgStore implements Store {
  readonly driver = 'postgres';
  /** Several nodes share the database: calls are recovered by lease, not at start-up. */
  readonly shared = true;
  readonly pool: PgPool;
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
  private readonly deps: PgRepoDeps;
  private readonly isolation: PgIsolation = 'read committed';

  constructor(o: PgStoreOptions) {
    this.pool = o.pool;
    this.deps = o.deps;
    Object.assign(this, repositories(o.pool, o.deps));
    this.keys = new PgKeyMaintenance(o.pool, o.deps);
  }

  async withTransaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    return withPgTransaction(this.pool, (tx) => work(this.transaction(tx)), { isolation: this.isolation });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** The repositories on this transaction's client; a nested unit is a savepoint on the same client. */
  private transaction(tx: PgTx): Transaction {
    return {
      ...repositories(tx, this.deps),
      withTransaction: (work) => tx.withTransaction((inner) => work(this.transaction(inner))),
      afterCommit: (fn) => tx.afterCommit(fn),
    };
  }
}

export interface OpenPgStoreOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** Connections this process keeps at most. */
  poolMax: number;
  deps: PgRepoDeps;
  /** A pooled connection that failed while idle (server restart, failover). */
  onIdleError?: (err: Error) => void;
}

/**
 * Opens the pool, brings the schema up to date (once across nodes starting together), checks the
 * key against the database and returns the store. Order matters: a wrong key stops here, before
 * anything is written with it.
 */
export async function openPgStore(o: OpenPgStoreOptions): Promise<PgStore> {
  const pool = openPgPool({ url: o.url, max: o.poolMax, ...(o.onIdleError ? { onIdleError: o.onIdleError } : {}) });
  try {
    await applyPgMigrations(pool);
    await checkPgKeyMatches(pool, o.deps.crypto);
  } catch (e) {
    await pool.end();
    throw e;
  }
  return new PgStore({ pool, deps: o.deps });
}

// The same canary as src/store/key-check.ts (same text, same AAD), so a database copied from SQLite
// keeps its canary valid.
const CANARY = 'callpay key check';
const CANARY_AAD = aad('meta', 'value', 'key_check');

/**
 * The first key to open a database seals a canary into it; every later open must open it. Several
 * nodes starting on an empty database at once: INSERT … ON CONFLICT DO NOTHING keeps the first
 * canary committed, and every node then reads back that one, never its own unless it won.
 */
export async function checkPgKeyMatches(db: PgQueryable, crypto: FieldCrypto): Promise<void> {
  await execute(db, "INSERT INTO meta (name, value) VALUES ('key_check', $1) ON CONFLICT (name) DO NOTHING", [crypto.seal(CANARY, CANARY_AAD)]);
  const row = await queryOne<{ value: Buffer }>(db, "SELECT value FROM meta WHERE name = 'key_check'");
  try {
    if (row && crypto.open(row.value, CANARY_AAD) === CANARY) return;
  } catch {
    // reported below
  }
  throw new CallpayError('key_invalid', 'master key: this key does not match the database (wrong key file or CALLPAY_MASTER_KEY? during a key rotation the previous key belongs in previousKeyFiles)', 'keyFile');
}
