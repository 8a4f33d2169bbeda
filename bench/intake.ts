// Merchant intake (issue 3): POST /v1/payments on a real `callpay serve` process against a bare
// node:http + better-sqlite3 server doing the same durable writes (bench/intake-baseline.ts).
// Run: npx tsx bench/intake.ts [--clients N] [--requests N] [--rounds N] [--store sqlite|postgres|both]
//        [--nodes 1|2|1,2] [--fsync off|on|both]
// Rounds alternate callpay, baseline, callpay, baseline… because this shared 2-core machine is
// noisy; each run is reported, then the per-metric median over rounds.
// --store postgres (issue 14) puts the same load on `callpay serve` on PostgreSQL in the same rounds as
// the SQLite node: one node, or two nodes on one database with the clients split over both, on a
// throw-away cluster (test/helpers/postgres.ts: fsync off; --fsync on|both adds a second cluster with
// fsync and synchronous_commit on). `both` also keeps the bare baseline. Ratios are against the SQLite node.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { descendants } from '../test/helpers/child.js';
import { startPostgres, type PgCluster } from '../test/helpers/postgres.js';
import { procCpuMs } from './calls/proc-stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WARMUP = 300; // per run: JIT, statement caches and keep-alive sockets are hot before timing
const RUN_LIMIT_MS = 120_000; // a run that exceeds this stops and is reported as TIMED OUT
const REQUEST_TIMEOUT_MS = 30_000; // one hung request must not hang its client loop forever
const STOP_GRACE_MS = 10_000; // SIGTERM, then SIGKILL after this

type Store = 'sqlite' | 'postgres' | 'both';
type Fsync = 'off' | 'on';
interface Args { clients: number; requests: number; rounds: number; store: Store; nodes: number[]; fsync: Fsync[] }

const USAGE = 'usage: intake.ts [--clients 1..1024] [--requests 1..1000000] [--rounds 1..9] [--store sqlite|postgres|both] [--nodes 1|2|1,2] [--fsync off|on|both]';

function parseArgs(argv: string[]): Args {
  const out: Args = { clients: 32, requests: 3000, rounds: 2, store: 'sqlite', nodes: [1], fsync: ['off'] };
  const limits = { clients: 1024, requests: 1_000_000, rounds: 9 } as const;
  const choices: Record<string, Record<string, (a: Args) => void>> = {
    store: { sqlite: (a) => (a.store = 'sqlite'), postgres: (a) => (a.store = 'postgres'), both: (a) => (a.store = 'both') },
    nodes: { '1': (a) => (a.nodes = [1]), '2': (a) => (a.nodes = [2]), '1,2': (a) => (a.nodes = [1, 2]) },
    fsync: { off: (a) => (a.fsync = ['off']), on: (a) => (a.fsync = ['on']), both: (a) => (a.fsync = ['off', 'on']) },
  };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]?.replace(/^--/, '') ?? '';
    const raw = argv[i + 1];
    const pick = raw === undefined ? undefined : choices[name]?.[raw];
    if (pick) {
      pick(out);
      continue;
    }
    const n = Number(raw);
    if (!(name in limits) || raw === undefined || !/^[1-9]\d*$/.test(raw) || n > limits[name as keyof typeof limits]) {
      console.error(USAGE);
      process.exit(2);
    }
    out[name as keyof typeof limits] = n;
  }
  return out;
}

interface Server { name: string; url: string; child: ChildProcess; output(): string }

/** Spawns a server and waits (bounded) until it prints "serving on <url>" on stderr. */
function startServer(name: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Server> {
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => void (out = (out + d.toString()).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const server: Server = { name, url: '', child, output: () => out };
  servers.push(server); // registered before it is up, so cleanup stops it even if startup fails
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 20 s:\n${out}`)), 20_000);
    child.stderr?.on('data', () => {
      const m = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m?.[1] && !server.url) {
        clearTimeout(timer);
        resolve(Object.assign(server, { url: m[1] }));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before listening:\n${out}`));
    });
  });
}

async function stopServer(s: Server): Promise<void> {
  const { child } = s;
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const kill = (signal: NodeJS.Signals) => {
    try {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
    } catch { /* already gone (ESRCH) */ }
  };
  kill('SIGTERM');
  const timer = setTimeout(() => kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** User + system CPU of a process (all its threads) in ms, or NaN off Linux. */

/** Filesystem type holding `path`: fsync cost (the dominant one) depends on it. */
function fsTypeOf(path: string): string {
  let best = { at: '', type: '?' };
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, at, type] = line.split(' ');
    if (at && type && (path === at || path.startsWith(at.endsWith('/') ? at : `${at}/`)) && at.length >= best.at.length) best = { at, type };
  }
  return best.type;
}

interface Run { server: string; requests: number; errors: number; wallMs: number; rps: number; p50: number; p99: number; max: number; srvCpu: number; dbCpu: number; cliCpu: number; timedOut: boolean; firstError?: string }

/** What one timed run loads: one server, or several nodes on one database with the clients split round-robin. */
interface Target { name: string; servers: Server[]; apiKey: string; dbPid?: number }

/** CPU of the PostgreSQL postmaster and its backends (the pools keep theirs for the whole run), or NaN. */
function dbCpuMs(pid: number | undefined): number {
  return pid === undefined ? NaN : [pid, ...descendants(pid)].reduce((sum, p) => sum + (procCpuMs(p) || 0), 0);
}

let seq = 0; // Idempotency-Key and reference counter: unique across every run of this process

/** `count` POSTs by `clients` concurrent loops over keep-alive fetch; stops early at `limitMs`. */
async function load(t: Target, count: number, clients: number, limitMs: number): Promise<Run> {
  const latencies = new Float64Array(count);
  let next = 0;
  let done = 0;
  let errors = 0;
  let firstError: string | undefined;
  const srvCpu = () => t.servers.reduce((sum, s) => sum + procCpuMs(s.child.pid), 0);
  const srv0 = srvCpu();
  const db0 = dbCpuMs(t.dbPid);
  const cli0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const deadline = Date.now() + limitMs;
  const loop = async (client: number) => {
    const url = `${t.servers[client % t.servers.length]!.url}/v1/payments`;
    while (next < count && Date.now() < deadline) {
      next++;
      const n = ++seq;
      const body = JSON.stringify({ amount: 1500, currency: 'TWD', reference: `bench-${n}`, description: 'Bench purchase', return_url: 'https://shop.example/return' });
      const t0 = process.hrtime.bigint();
      let status = 0;
      try {
        const res = await fetch(url, {
          method: 'POST', body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          headers: { authorization: `Bearer ${t.apiKey}`, 'content-type': 'application/json', 'idempotency-key': `bench-${process.pid}-${n}` },
        });
        const text = await res.text(); // the body must be read for the socket to return to the pool
        status = res.status;
        if (status !== 201) firstError ??= `HTTP ${status}: ${text.slice(0, 200)}`;
      } catch (e) {
        firstError ??= String(e);
      }
      latencies[done++] = Number(process.hrtime.bigint() - t0) / 1e6;
      if (status !== 201) errors++;
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => loop(i)));
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  const cli = process.cpuUsage(cli0);
  const sorted = latencies.subarray(0, done).sort();
  const pct = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * done) - 1)] ?? NaN; // nearest rank
  return {
    server: t.name, requests: done, errors, wallMs, rps: ((done - errors) * 1000) / wallMs,
    p50: pct(50), p99: pct(99), max: sorted[done - 1] ?? NaN,
    srvCpu: (srvCpu() - srv0) / done, dbCpu: (dbCpuMs(t.dbPid) - db0) / done, cliCpu: (cli.user + cli.system) / 1000 / done,
    timedOut: done < count, ...(firstError ? { firstError } : {}),
  };
}

const servers: Server[] = [];
const clusters: PgCluster[] = [];
const dirs: string[] = [];
let cleaning: Promise<void> | undefined;
const cleanup = () => (cleaning ??= (async () => {
  await Promise.all(servers.map(stopServer));
  await Promise.all(clusters.map((c) => c.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
})());
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => void cleanup().finally(() => process.exit(130)));
}

const BASE_ENV = {
  PATH: process.env.PATH ?? '', CALLPAY_HTTP_HOST: '127.0.0.1', CALLPAY_HTTP_PORT: '0', CALLPAY_ADMIN_PORT: '0', CALLPAY_TELEPHONY_ENGINE: 'simulated',
  CALLPAY_LOG_LEVEL: 'warn', CALLPAY_RATE_LIMIT_PER_SECOND: '100000', CALLPAY_RATE_LIMIT_BURST: '100000',
};

/** `callpay init` and one merchant in a new temp dir with `env` (the store); then `nodes` serve processes on it. */
async function callpayNodes(name: string, nodes: number, extraEnv: Record<string, string> = {}): Promise<{ servers: Server[]; apiKey: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'callpay-bench-'));
  dirs.push(dir);
  const env = { ...BASE_ENV, ...extraEnv };
  const cli = (...args: string[]) => promisify(execFile)(process.execPath, [join(ROOT, 'bin/callpay.js'), ...args], { cwd: dir, env, timeout: 30_000 });
  await cli('init');
  const { api_key: apiKey } = JSON.parse((await cli('merchant', 'add', '--name', 'Bench Shop', '--json')).stdout) as { api_key: string };
  const started: Server[] = [];
  // one after the other: two nodes migrating one database at once is not what is measured here
  for (let i = 0; i < nodes; i++) started.push(await startServer(nodes > 1 ? `${name}${'AB'[i] ?? i}` : name, [join(ROOT, 'bin/callpay.js'), 'serve'], dir, env));
  return { servers: started, apiKey };
}

/** A throw-away PostgreSQL cluster and database, and the store settings of a node (password apart from the URL). */
async function postgresStore(fsync: Fsync): Promise<{ cluster: PgCluster; env: Record<string, string> }> {
  const cluster = await startPostgres({ durable: fsync === 'on' });
  clusters.push(cluster);
  const url = new URL((await cluster.createDatabase('callpay_bench')).url);
  const password = decodeURIComponent(url.password);
  url.password = '';
  return { cluster, env: { CALLPAY_STORE_DRIVER: 'postgres', CALLPAY_STORE_URL: url.toString(), CALLPAY_STORE_PASSWORD: password } };
}

async function main(): Promise<number> {
  const { clients, requests, rounds, store, nodes, fsync } = parseArgs(process.argv.slice(2));
  const pg = store !== 'sqlite';
  // The serve process runs dist/: rebuild so it matches src/ (as test/global-setup.ts does).
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit', timeout: 180_000 });

  const sqliteName = pg ? 'sqlite' : 'callpay';
  const sqlite = await callpayNodes(sqliteName, 1);
  const targets: Target[] = [{ name: sqliteName, servers: sqlite.servers, apiKey: sqlite.apiKey }];
  if (store !== 'postgres') {
    const blDir = mkdtempSync(join(tmpdir(), 'callpay-bench-baseline-'));
    dirs.push(blDir);
    const baseline = await startServer('baseline', ['--import', 'tsx', join(ROOT, 'bench/intake-baseline.ts'), join(blDir, 'baseline.db')], ROOT, { PATH: BASE_ENV.PATH });
    targets.push({ name: 'baseline', servers: [baseline], apiKey: '' });
  }
  const pgInfo: string[] = [];
  for (const f of pg ? fsync : []) {
    // one database per fsync setting; its one-node run uses node A, its two-node run A and B
    const { cluster, env } = await postgresStore(f);
    const suffix = f === 'on' ? '+fsync' : '';
    const pgNodes = await callpayNodes(`pg${suffix}`, Math.max(...nodes), env);
    for (const n of nodes) targets.push({ name: `pg${n}${suffix}`, servers: pgNodes.servers.slice(0, n), apiKey: pgNodes.apiKey, dbPid: cluster.pid });
    pgInfo.push(`PostgreSQL (${cluster.dir}) fsync ${f}, synchronous_commit ${f}, full_page_writes ${f}`);
  }

  const cpu = cpus()[0]?.model ?? '?';
  console.log(`node ${process.version}, ${cpus().length} cpus (${cpu}), ${clients} clients, ${requests} requests per run ` +
    `after ${WARMUP} warm-up, temp dir ${tmpdir()} on ${fsTypeOf(tmpdir())}${pgInfo.map((p) => `\n${p}`).join('')}\n`);
  const runs: Run[][] = [];
  for (let r = 0; r < rounds; r++) {
    const row: Run[] = [];
    for (const t of targets) {
      const warm = await load(t, WARMUP, clients, RUN_LIMIT_MS);
      if (warm.errors) throw new Error(`${t.name} warm-up: ${warm.errors} errors, first: ${warm.firstError}\n${t.servers.map((s) => s.output()).join('\n')}`);
      row.push(await load(t, requests, clients, RUN_LIMIT_MS));
      print(String(r + 1), row.at(-1)!, r === 0 && t === targets[0], pg);
    }
    runs.push(row);
  }

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const mid = s.length >> 1;
    return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  };
  const med = (i: number): Run => {
    const col = runs.map((p) => p[i]!);
    const m = (k: 'requests' | 'errors' | 'wallMs' | 'rps' | 'p50' | 'p99' | 'max' | 'srvCpu' | 'dbCpu' | 'cliCpu') => median(col.map((x) => x[k]));
    return { server: col[0]!.server, requests: m('requests'), errors: m('errors'), wallMs: m('wallMs'), rps: m('rps'), p50: m('p50'), p99: m('p99'), max: m('max'), srvCpu: m('srvCpu'), dbCpu: m('dbCpu'), cliCpu: m('cliCpu'), timedOut: col.some((x) => x.timedOut) };
  };
  const medians = targets.map((_, i) => med(i));
  for (const m of medians) print('median', m, false, pg);
  // each configuration against the SQLite node; the SQLite node against the bare baseline (as before)
  console.log('');
  for (let i = 1; i < targets.length; i++) {
    const [num, den] = targets[i]!.name === 'baseline' ? [0, i] : [i, 0];
    const per = (f: (a: Run, b: Run) => number) => runs.map((row) => f(row[num]!, row[den]!).toFixed(2)).join(', ');
    const [a, b] = [medians[num]!, medians[den]!];
    console.log(`${a.server}/${b.server} (medians): throughput ${(a.rps / b.rps).toFixed(2)}x, p99 ${(a.p99 / b.p99).toFixed(2)}x` +
      `   (per round: throughput ${per((x, y) => x.rps / y.rps)}; p99 ${per((x, y) => x.p99 / y.p99)})`);
  }
  const bad = runs.flat().filter((x) => x.errors || x.timedOut);
  for (const x of bad) console.log(`${x.server}: ${x.errors} errors${x.timedOut ? `, TIMED OUT after ${RUN_LIMIT_MS / 1000} s` : ''}; first: ${x.firstError ?? '-'}`);
  return bad.length ? 1 : 0;
}

/** `db`: the PostgreSQL column (postmaster + backends CPU per request), only when a PostgreSQL store is in the run. */
function print(round: string, x: Run, header: boolean, db: boolean): void {
  if (header) console.log(`run     server    requests errors  wall ms    req/s  p50 ms  p99 ms  max ms  srv cpu ms/req  bench cpu ms/req${db ? '  db cpu ms/req' : ''}`);
  const f = (n: number, w = 7) => n.toFixed(1).padStart(w);
  console.log(`${round.padEnd(7)} ${x.server.padEnd(9)} ${String(x.requests).padStart(8)} ${String(x.errors).padStart(6)} ${f(x.wallMs, 8)} ${f(x.rps, 8)}` +
    ` ${f(x.p50)} ${f(x.p99)} ${f(x.max)} ${x.srvCpu.toFixed(3).padStart(15)} ${x.cliCpu.toFixed(3).padStart(17)}` +
    `${db ? (Number.isNaN(x.dbCpu) ? '              -' : x.dbCpu.toFixed(3).padStart(15)) : ''}${x.timedOut ? '  TIMED OUT' : ''}`);
}

try {
  process.exitCode = await main();
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
} finally {
  await cleanup();
}
