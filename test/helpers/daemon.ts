import { expect } from 'vitest';
import type Database from 'better-sqlite3';
import { runCli, tempDir } from './cli.js';
import { freeRtpPortRange } from './rtp-phone.js';
import { openContext, type AppContext } from '../../src/wiring/context.js';
import { startDaemon, type Daemon } from '../../src/wiring/daemon.js';
import type { AuthorizationRequest, CallAuthorizer, CallOutcome } from '../../src/payments/ports.js';
import { checkApiResponse } from './openapi.js';
import { newPgWorldDatabase, pgWorldDb, sqliteWorldDb, type SqlParam, type SqlRow, type WorldDb, type WorldStore } from './pg-world.js';

export type Script = CallOutcome | ((req: AuthorizationRequest) => Promise<CallOutcome>);

/** An in-memory call engine for payment tests: plays the given outcomes in order. Not live. */
export function scriptedAuthorizer(script: Script[] = []): CallAuthorizer & { requests: AuthorizationRequest[]; script: Script[] } {
  const requests: AuthorizationRequest[] = [];
  return {
    live: false,
    requests,
    script,
    async authorize(req) {
      requests.push(req);
      // Like a real dialer: the caps are asked before the (one) dial.
      const refused = await req.mayDial(1);
      if (refused) return { kind: 'call_limit', reason: refused };
      const next = script.shift() ?? { kind: 'failed', reason: 'no scripted outcome' };
      return typeof next === 'function' ? next(req) : next;
    },
    async close() {},
  };
}

export interface TestWorld {
  dir: string;
  ctx: AppContext;
  daemon: Daemon;
  store: WorldStore;
  /** SQLite worlds only: a connection of the test's own to the same database file. Throws on PostgreSQL. */
  readonly db: Database.Database;
  /** Rows of the world's database, on either store: portable SQL with `?` placeholders. */
  query<R extends SqlRow = SqlRow>(sql: string, params?: SqlParam[]): Promise<R[]>;
  engine: ReturnType<typeof scriptedAuthorizer>;
  apiKey: string;
  merchantId: string;
  otherApiKey: string;
  clock: { now: number; advance(ms: number): void };
  cli(args: string[], stdin?: string): ReturnType<typeof runCli>;
  api(method: string, path: string, opts?: { body?: unknown; key?: string | null; idem?: string; headers?: Record<string, string>; raw?: string }): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

export interface WorldOptions {
  configuredEngine?: boolean;
  /** Default sqlite. postgres: a fresh database on the file's cluster (usePgWorlds() in the test file). */
  store?: WorldStore;
}

/**
 * A world of its own: temp directory, database, consumers enrolled through the CLI, two merchants,
 * and the daemon on a free loopback port with a scripted call engine and a controllable clock.
 */
export async function startWorld(env: Record<string, string> = {}, opts: WorldOptions = {}): Promise<TestWorld> {
  const store = opts.store ?? 'sqlite';
  const pg = store === 'postgres' ? await newPgWorldDatabase() : undefined;
  const tmp = tempDir();
  // Tests place many calls to one consumer (and one number); the toll-fraud caps have their own tests.
  const fullEnv = { CALLPAY_HTTP_PORT: '0', CALLPAY_ADMIN_PORT: '0', CALLPAY_ARGON2_WORKERS: '1', CALLPAY_IVR_MAX_CALLS_PER_CONSUMER_PER_HOUR: '1000', CALLPAY_IVR_MAX_CALLS_PER_NUMBER_PER_HOUR: '1000', ...pg?.env, ...env };
  const cli = (args: string[], stdin?: string) => runCli(args, { cwd: tmp.path, env: fullEnv, ...(stdin === undefined ? {} : { stdin }) });
  await cli(['init']);
  const merchant = JSON.parse((await cli(['merchant', 'add', '--name', 'Night Market Stall 12', '--json'])).stdout) as { id: string; api_key: string };
  const other = JSON.parse((await cli(['merchant', 'add', '--name', 'Other Shop', '--json'])).stdout) as { api_key: string };
  const clock = { now: Date.now(), advance(ms: number) { clock.now += ms; } };
  // With configuredEngine the daemon runs on real time (embedded SIP in the e2e tests).
  const ctx = await openContext({ logLevel: (process.env.TEST_LOG_LEVEL ?? 'silent') }, { cwd: tmp.path, env: fullEnv, ...(opts.configuredEngine ? {} : { clock: () => new Date(clock.now) }) });
  // An env of the test's own that names another store would make "both stores" a lie
  if (ctx.config.store.driver !== store) {
    await ctx.close();
    tmp.remove();
    throw new Error(`startWorld({ store: '${store}' }) opened a ${ctx.config.store.driver} store`);
  }
  const engine = scriptedAuthorizer();
  // With configuredEngine the daemon builds its engine from the config (embedded SIP in the e2e tests).
  const daemon = await startDaemon(ctx, opts.configuredEngine ? {} : { authorizer: engine });
  const sqlite = pg ? undefined : sqliteWorldDb(ctx.config.database);
  const own: WorldDb = pg ? pgWorldDb(pg.url) : sqlite!;
  const world: TestWorld = {
    dir: tmp.path,
    ctx,
    daemon,
    store,
    get db(): Database.Database {
      if (!sqlite) throw new Error('TestWorld.db is the SQLite file, and this world runs on PostgreSQL: use await w.query(sql, params)');
      return sqlite.sqlite;
    },
    query: (sql, params) => own.query(sql, params),
    engine,
    apiKey: merchant.api_key,
    merchantId: merchant.id,
    otherApiKey: other.api_key,
    clock,
    cli,
    async api(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      const key = opts.key === undefined ? merchant.api_key : opts.key;
      if (key !== null) headers.authorization = `Bearer ${key}`;
      if (opts.idem) headers['idempotency-key'] = opts.idem;
      let body: string | undefined = opts.raw;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await fetch(`${world.daemon.url}${path}`, { method, headers, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      const parsed: unknown = text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text || undefined;
      // Every response an API test sees is checked against the OpenAPI document (issue 13, item 2).
      checkApiResponse(method, path, res.status, parsed);
      return { status: res.status, body: parsed as any, headers: res.headers };
    },
    async close() {
      await own.close();
      // The daemon running now: a test may have restarted it on the same context.
      await world.daemon.stop();
      await ctx.close();
      tmp.remove();
    },
  };
  return world;
}

/** Enrols a consumer with a prepaid account topped up with `balance` (major units). */
export async function enrolPrepaid(w: TestWorld, login: string, balance: string, extra: string[] = []): Promise<string> {
  await w.cli(['consumer', 'add', '--login', login, '--phone', '+886912345678', '--national-id', 'A123456789', '--address', 'No. 7, Section 1', '--pin-stdin', ...extra], '482916\n');
  const acct = JSON.parse((await w.cli(['account', 'add', login, '--kind', 'mobile', '--number', `09${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`, '--plan', 'prepaid', '--json'])).stdout) as { id: string };
  if (balance !== '0') await w.cli(['account', 'topup', acct.id, '--amount', balance]);
  return acct.id;
}

/** Waits until `check` passes (bounded), for work that finishes after the HTTP reply. */
import { eventually } from './wait.js';
export { eventually };

/**
 * A world whose daemon places real calls with the embedded engine (SIP on a free port, RTP on a
 * checked free range) to the phone listening on `phonePort` of 127.0.0.1 (sipp, usually).
 */
export async function startCallingWorld(phonePort: number, env: Record<string, string> = {}, opts: { store?: WorldStore } = {}): Promise<TestWorld> {
  const rtp = await freeRtpPortRange(8);
  return startWorld({
    CALLPAY_TELEPHONY_SIP_BIND_PORT: '0',
    CALLPAY_TELEPHONY_SIP_REQUEST_URI: `sip:{number}@127.0.0.1:${phonePort}`,
    CALLPAY_TELEPHONY_RTP_PORT_MIN: String(rtp.portMin),
    CALLPAY_TELEPHONY_RTP_PORT_MAX: String(rtp.portMax),
    ...env,
  }, { configuredEngine: true, ...opts });
}

/** Waits (bounded) until a payment has ended after its call, and returns its status and failure code. */
export function finalOf(t: TestWorld, id: string, key = t.apiKey): Promise<{ status: string; failure_code: string | null }> {
  return eventually(async () => {
    const p = (await t.api('GET', `/v1/payments/${id}`, { key })).body as { status: string; failure_code: string | null };
    expect(['succeeded', 'declined', 'failed']).toContain(p.status);
    return p;
  }, 30_000);
}
