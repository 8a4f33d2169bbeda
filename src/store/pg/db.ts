import pg from 'pg';
import type { PoolClient, QueryResultRow } from 'pg';

/**
 * A thin layer over `pg.Pool` for the PostgreSQL store: one typed query helper, and transactions
 * that are retried whole when PostgreSQL reports a serialization failure or a deadlock, with nested
 * units as savepoints (the shape of the SQLite store's `Transaction`).
 */

export type PgPool = pg.Pool;

/** What callpay binds: no objects, no arrays (pg would serialize them as JSON or array literals). */
export type PgValue = string | number | bigint | boolean | Buffer | null;

/** Anything that runs a statement: the pool (autocommit) or a transaction's client. */
export interface PgQueryable {
  query<R extends QueryResultRow>(text: string, values?: PgValue[]): Promise<pg.QueryResult<R>>;
}

export interface OpenPgPoolOptions {
  url: string;
  /** Connections this process keeps at most. */
  max: number;
  /** A connection that fails while idle in the pool (server restart, failover); the pool drops it itself. */
  onIdleError?: (err: Error) => void;
  /** Bound on waiting for a free connection or a new one. Default 10 s. */
  connectTimeoutMs?: number;
}

const INT8_OID = 20;

/**
 * BIGINT columns (money in minor units, sequence numbers, COUNT(*)) arrive as numbers, like SQLite
 * gives them; a value past 2^53 would lose digits silently, so it fails loudly instead. The parser is
 * set on this pool only, never on pg's process-wide registry.
 */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`BIGINT ${text} does not fit a JavaScript number`);
  return n;
}

export function openPgPool(opts: OpenPgPoolOptions): PgPool {
  const getTypeParser = ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser;
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.max,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    application_name: 'callpay',
    types: { getTypeParser },
  });
  // Without a listener an idle connection's error would be thrown as an uncaught exception.
  pool.on('error', (err) => opts.onIdleError?.(err));
  return pool;
}

/** Rows of one statement. `R` is the caller's promise about the columns it selected. */
export async function queryRows<R extends QueryResultRow>(db: PgQueryable, text: string, values: PgValue[] = []): Promise<R[]> {
  return (await db.query<R>(text, values)).rows;
}

/** The first row, or undefined. */
export async function queryOne<R extends QueryResultRow>(db: PgQueryable, text: string, values: PgValue[] = []): Promise<R | undefined> {
  return (await db.query<R>(text, values)).rows[0];
}

/** A statement run for its effect; how many rows it touched. */
export async function execute(db: PgQueryable, text: string, values: PgValue[] = []): Promise<number> {
  return (await db.query(text, values)).rowCount ?? 0;
}

export type PgIsolation = 'read committed' | 'repeatable read' | 'serializable';

export interface PgTransactionOptions {
  /** Default 'read committed', PostgreSQL's own default. */
  isolation?: PgIsolation;
  /** Attempts in all, counting the first. Default 5. */
  maxAttempts?: number;
  /** Upper bound of the first back-off; it doubles per attempt, each wait drawn at random below it. Default 20 ms. */
  backoffMs?: number;
}

/** A transaction bound to one client. */
export interface PgTx extends PgQueryable {
  /** A nested unit as a SAVEPOINT: its failure undoes only its own writes, and is rethrown. */
  withTransaction<T>(work: (tx: PgTx) => Promise<T>): Promise<T>;
  /** Runs after the outermost transaction commits; never for an attempt that rolled back. */
  afterCommit(fn: () => void): void;
}

/** SQLSTATEs after which the whole unit can be run again and may well succeed. */
const RETRYABLE = new Set(['40001', '40P01']);

export function isRetryable(err: unknown): boolean {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' && RETRYABLE.has(err.code);
}

/** PostgreSQL's SQLSTATE of an error from pg, if it has one. */
export function sqlState(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

export class TransactionRetriesExhausted extends Error {
  constructor(readonly attempts: number, readonly last: unknown) {
    super(`transaction failed ${attempts} times on serialization failures or deadlocks`, { cause: last });
  }
}

/**
 * Runs `work` in one transaction on one pooled client: BEGIN … COMMIT, ROLLBACK on any error. On a
 * serialization failure (40001) or deadlock (40P01) anywhere in it — a statement, a savepoint the
 * work caught, or COMMIT itself — the whole unit is rolled back and run again, up to `maxAttempts`,
 * after a random wait, so two contenders do not collide again in step. `work` must therefore be
 * safe to run again: only database writes in it, slow or external effects in `afterCommit`.
 */
export async function withPgTransaction<T>(pool: PgPool, work: (tx: PgTx) => Promise<T>, opts: PgTransactionOptions = {}): Promise<T> {
  const maxAttempts = opts.maxAttempts ?? 5;
  const backoffMs = opts.backoffMs ?? 20;
  const begin = `BEGIN ISOLATION LEVEL ${(opts.isolation ?? 'read committed').toUpperCase()}`;
  for (let attempt = 1; ; attempt++) {
    try {
      const { result, after } = await attemptOnce(pool, begin, work);
      for (const fn of after) fn();
      return result;
    } catch (err) {
      if (!isRetryable(err)) throw err;
      if (attempt >= maxAttempts) throw new TransactionRetriesExhausted(attempt, err);
      await new Promise<void>((r) => setTimeout(r, Math.random() * backoffMs * 2 ** (attempt - 1)));
    }
  }
}

async function attemptOnce<T>(pool: PgPool, begin: string, work: (tx: PgTx) => Promise<T>): Promise<{ result: T; after: Array<() => void> }> {
  const client = await pool.connect();
  // A client whose ROLLBACK failed is in an unknown state: it goes back destroyed, not for reuse.
  let broken: Error | undefined;
  try {
    try {
      await client.query(begin);
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    }
    const state: Attempt = { client, savepoints: 0, retryable: undefined };
    const after: Array<() => void> = [];
    try {
      const result = await work(bind(state, after));
      // The work caught a serialization failure in a savepoint and went on: its reads are not to be trusted.
      if (state.retryable) throw state.retryable;
      await client.query('COMMIT');
      return { result, after };
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      }
      throw err;
    }
  } finally {
    client.release(broken);
  }
}

interface Attempt {
  client: PoolClient;
  savepoints: number;
  retryable: unknown;
}

function bind(state: Attempt, after: Array<() => void>): PgTx {
  const query = async <R extends QueryResultRow>(text: string, values?: PgValue[]) => {
    try {
      return await state.client.query<R>(text, values);
    } catch (err) {
      if (isRetryable(err)) state.retryable ??= err;
      throw err;
    }
  };
  return {
    query,
    afterCommit(fn) {
      after.push(fn);
    },
    async withTransaction(work) {
      const name = `sp_${++state.savepoints}`;
      await query(`SAVEPOINT ${name}`);
      const mine: Array<() => void> = [];
      try {
        const result = await work(bind(state, mine));
        await query(`RELEASE SAVEPOINT ${name}`);
        after.push(...mine);
        return result;
      } catch (err) {
        await query(`ROLLBACK TO SAVEPOINT ${name}`);
        await query(`RELEASE SAVEPOINT ${name}`);
        throw err;
      }
    },
  };
}

/**
 * One repository method's statements as a unit, wherever it is called from: on the pool, in a
 * transaction of its own (retried like any); inside a caller's transaction, directly in it. With
 * `savepoint`, inside a caller's transaction it runs in a savepoint: for methods that turn a SQL error
 * (a unique violation) into a CallpayError the caller may catch and carry on after, which PostgreSQL
 * would not allow in a transaction the failed statement had aborted.
 */
export async function inUnit<T>(q: PgQueryable, work: (db: PgQueryable) => Promise<T>, opts: { savepoint?: boolean } = {}): Promise<T> {
  if (q instanceof pg.Pool) return withPgTransaction(q, work);
  if (opts.savepoint && isPgTx(q)) return q.withTransaction(work);
  return work(q);
}

export function isPgTx(q: PgQueryable): q is PgTx {
  return typeof (q as Partial<PgTx>).withTransaction === 'function';
}

/** The constraint a pg error names (a unique violation's index), if any. */
export function constraintOf(err: unknown): string | undefined {
  return err instanceof Error && 'constraint' in err && typeof err.constraint === 'string' ? err.constraint : undefined;
}

/** `$from, $from+1, …` for `n` values: an IN list of every held key's blind index. */
export function placeholders(from: number, n: number): string {
  return Array.from({ length: n }, (_, i) => `$${from + i}`).join(', ');
}
