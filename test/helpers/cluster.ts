import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import type { PgDatabase } from './postgres.js';
import { freeRtpPortRange } from './rtp-phone.js';
import { waitFor } from './wait.js';
import type { Sipp } from './sipp.js';
import { stopChild } from '../../bench/soak/children.js';
import { optionalEnv, serveEnv } from '../../bench/soak/env.js';
import { startPhones, type PhonePcaps } from '../../bench/soak/phones.js';
import { BIN, spawnServe, type Serve } from '../../bench/soak/serve.js';
import { within } from '../../bench/soak/util.js';
import type { PgPool } from '../../src/store/pg/db.js';
import { queryRows } from '../../src/store/pg/db.js';

/**
 * Several `callpay serve` processes (dist/, through bin/callpay.js) on one PostgreSQL database, each
 * with sipp phones of its own (bench/soak/phones.ts): a node's phones live and die with it, so calls
 * that a SIGKILLed node left open on its phones never reach the survivor's.
 */

/** How long a node's phones may live: the whole test, with a margin (sipp's own -timeout). */
const PHONE_LIFETIME_MS = 300_000;

/**
 * The settings of every node (and of the CLI that prepares the database): PostgreSQL with the
 * password apart from the URL (the URL may not carry it), short call leases.
 */
export function clusterEnv(db: PgDatabase, callLeaseSeconds: number): Record<string, string> {
  const url = new URL(db.url);
  const password = decodeURIComponent(url.password);
  url.password = '';
  return {
    CALLPAY_STORE_DRIVER: 'postgres',
    CALLPAY_STORE_URL: url.toString(),
    CALLPAY_STORE_PASSWORD: password,
    CALLPAY_STORE_POOL_MAX: '8',
    CALLPAY_STORE_CALL_LEASE_SECONDS: String(callLeaseSeconds),
  };
}

export interface ClusterNode {
  /** "A" or "B": the slot; `life` counts its starts (1 = the first). */
  readonly name: string;
  readonly life: number;
  readonly serve: Serve;
  readonly phones: Sipp;
  /** http://127.0.0.1:port */
  readonly base: string;
  readonly pid: number;
  readonly readyAt: number;
}

export interface NodeSpec {
  name: string;
  life: number;
  /** The world's directory: the key file, and the node's log (`serve-<name>.log`). */
  dir: string;
  env: Record<string, string>;
  pcaps: PhonePcaps;
  /** This node's own RTP ports (splitRtpRange): two nodes picking free ranges at once could pick one. */
  rtp: { portMin: number; portMax: number };
  /** bin/callpay.js by default; or a fault-injecting one (serve-process.ts CRASH_AFTER_APPROVAL). */
  launcher?: string;
}

/** One free range cut into `parts` disjoint ones, one per node slot, kept across its restarts. */
export async function splitRtpRange(parts: number, evenPortsEach = 64): Promise<Array<{ portMin: number; portMax: number }>> {
  const { portMin } = await freeRtpPortRange(parts * evenPortsEach);
  const size = 2 * evenPortsEach;
  return Array.from({ length: parts }, (_, i) => ({ portMin: portMin + i * size, portMax: portMin + (i + 1) * size - 1 }));
}

/**
 * A daemon that could not load its modules: dist/ being rebuilt under it (another test run's
 * global setup, `npm run build`), not a finding of this test. Started again, a bounded number of times.
 */
const HALF_BUILT = /ERR_MODULE_NOT_FOUND|does not provide an export named/;

/** Phones, then the daemon on them; resolves once it listens (throws with its log tail otherwise). */
export async function startNode(spec: NodeSpec): Promise<ClusterNode> {
  for (let attempt = 1; ; attempt++) {
    const started = await startOnce(spec);
    if (typeof started !== 'string') return started;
    if (!HALF_BUILT.test(started) || attempt >= 4) throw new Error(`node ${spec.name} did not start:\n${started}`);
    // Start again once dist/ loads whole: the rebuild under it has finished.
    await waitFor('dist/ to load whole again (a rebuild was under way)', distLoads, { timeoutMs: 60_000, intervalMs: 250 });
  }
}

/** Whether the CLI's compiled module graph imports without error, in a fresh node (bounded). */
function distLoads(): Promise<boolean> {
  const main = new URL('../dist/cli/main.js', pathToFileURL(BIN)).href;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(main)})`], { timeout: 10_000 }, (err) => resolve(err === null));
  });
}

async function startOnce(spec: NodeSpec): Promise<ClusterNode | string> {
  const phones = await startPhones(spec.pcaps, PHONE_LIFETIME_MS);
  try {
    const env = { ...serveEnv({ phones: phones.hostPort, rtp: spec.rtp, optional: optionalEnv(BIN) }), ...spec.env };
    const serve = spawnServe(spec.launcher ?? BIN, spec.dir, env, `${spec.dir}/serve-${spec.name}.log`, `node ${spec.name} life ${spec.life}`);
    const base = await serve.ready;
    if (!base || serve.readyAt === null || serve.child.pid === undefined) {
      await within(serve.exited, 5000, null);
      await phones.stop();
      return serve.tail();
    }
    return { name: spec.name, life: spec.life, serve, phones, base, pid: serve.child.pid, readyAt: serve.readyAt };
  } catch (e) {
    await phones.stop();
    throw e;
  }
}

/** SIGKILL by PID, waited for (bounded), then its phones stopped. */
export async function killNode(node: ClusterNode): Promise<number> {
  const killedAt = Date.now();
  node.serve.kill('SIGKILL');
  if ((await within(node.serve.exited, 10_000, 'late')) === 'late') throw new Error(`node ${node.name} (pid ${node.pid}) did not die within 10 s of SIGKILL`);
  await node.phones.stop();
  return killedAt;
}

/** SIGTERM (the daemon drains its calls), SIGKILL after a bound; then its phones. */
export async function stopNode(node: ClusterNode): Promise<void> {
  await stopChild(node.serve.child, 20_000);
  await node.phones.stop();
}

/**
 * The node id a daemon records on the calls it owns is `<host>-<pid>-<6 hex>` (wiring/daemon.ts):
 * this matches the ids of one process.
 */
export function nodeIdPattern(pid: number): string {
  return `-${pid}-[0-9a-f]{6}$`;
}

export interface CallRow {
  id: string;
  status: string;
  failure_code: string | null;
  call_node: string | null;
  authorized_at: string | null;
}

/** Payments in their call step whose lease this process holds (or held when it died). */
export async function callsOwnedBy(pool: PgPool, pid: number): Promise<CallRow[]> {
  return queryRows<CallRow>(pool, "SELECT id, status, failure_code, call_node, authorized_at FROM payments WHERE status = 'calling' AND call_node ~ $1 ORDER BY id", [nodeIdPattern(pid)]);
}

export async function paymentsById(pool: PgPool, ids: readonly string[]): Promise<CallRow[]> {
  if (ids.length === 0) return [];
  const list = ids.map((_, i) => `$${i + 1}`).join(', ');
  return queryRows<CallRow>(pool, `SELECT id, status, failure_code, call_node, authorized_at FROM payments WHERE id IN (${list}) ORDER BY id`, [...ids]);
}

export async function callingCount(pool: PgPool): Promise<number> {
  const [row] = await queryRows<{ n: number }>(pool, "SELECT count(*) AS n FROM payments WHERE status = 'calling'");
  return row?.n ?? 0;
}

/** The reason recorded with a payment's last transition (who ended it and why). */
export async function lastReason(pool: PgPool, id: string): Promise<string | undefined> {
  const [row] = await queryRows<{ reason: string }>(pool, 'SELECT reason FROM payment_transitions WHERE payment_id = $1 ORDER BY seq DESC LIMIT 1', [id]);
  return row?.reason;
}
