import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { descendants, killAtExit, signal, within } from './child.js';
import { waitFor } from './wait.js';

/**
 * A throw-away PostgreSQL 15 cluster (Debian 12 `postgresql`) owned by the test: `initdb` into a temp
 * directory, then `postgres` in the foreground as the test's child, listening on 127.0.0.1 only (a free
 * port) with its unix socket inside the temp directory, so the Debian package's own cluster (port 5432,
 * /var/run/postgresql) is never touched. Password authentication (SCRAM) with a password generated per
 * cluster, so the URLs handed out look like a production `store.url`.
 *
 * PostgreSQL refuses to run as root: as root, initdb and postgres run as the `postgres` OS user
 * (spawned with its uid/gid, so the PID we hold is the postmaster itself, not a runuser wrapper).
 * Stopped by PID: SIGINT (fast shutdown), then SIGKILL of it and its backends, each bounded.
 */

export const PG_BIN = process.env.CALLPAY_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const HOST = '127.0.0.1';
const SUPERUSER = 'callpay';

export interface PgDatabase {
  readonly name: string;
  /** postgres://callpay:…@127.0.0.1:port/name */
  readonly url: string;
}

export interface PgCluster {
  readonly pid: number;
  readonly port: number;
  readonly dir: string;
  /** The `postgres` maintenance database: for CREATE DATABASE and looking around, not for tests' data. */
  readonly adminUrl: string;
  urlFor(database: string): string;
  /** A new empty database with a name no other test uses. */
  createDatabase(prefix?: string): Promise<PgDatabase>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What postgres wrote to stderr so far (the last 256 KB). */
  logs(): string;
  /** Fast shutdown by PID, then SIGKILL, each waited for at most a bound; removes the temp dir. Safe twice. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** How long to wait for the first successful connection. Default 30 s. */
  readyTimeoutMs?: number;
  /**
   * Keep PostgreSQL's durability settings (fsync, synchronous_commit, full_page_writes on, as in
   * production) instead of turning them off. Default false: the tests measure constraints and locks,
   * not durability. bench/intake.ts uses it to price a commit that really reaches the disk.
   */
  durable?: boolean;
}

class PortTaken extends Error {}

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PgCluster> {
  for (const tool of ['initdb', 'postgres']) {
    if (!existsSync(join(PG_BIN, tool))) {
      throw new Error(`PostgreSQL 15 is not installed: ${join(PG_BIN, tool)} is missing. ` +
        'Debian: apt-get install postgresql (scripts/test.sh installs it), or point CALLPAY_PG_BIN at its bin directory.');
    }
  }
  const owner = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'callpay-pg-'));
  try {
    const password = randomBytes(18).toString('base64url');
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (owner) {
      chownSync(dir, owner.uid, owner.gid);
      chownSync(pwfile, owner.uid, owner.gid);
    }
    await initdb(dir, pwfile, owner);
    rmSync(pwfile);
    let lastError: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        return await launch(dir, password, owner, options.readyTimeoutMs ?? 30_000, options.durable === true);
      } catch (err) {
        lastError = err;
        // another process bound the port between our probe and the postmaster's bind: another port
        if (!(err instanceof PortTaken)) throw err;
      }
    }
    throw lastError;
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

interface Owner { uid: number; gid: number }

/** As root, the `postgres` account that the Debian package creates; otherwise whoever we are. */
function runAs(): Owner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  const fields = line?.split(':');
  if (!fields || fields.length < 4) {
    throw new Error('running as root, and there is no `postgres` OS user to run PostgreSQL as (Debian: apt-get install postgresql)');
  }
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: () => { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

function run(tool: string, args: string[], cwd: string, owner: Owner | undefined): Run {
  const child = spawn(join(PG_BIN, tool), args, {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(owner ?? {}),
    // LANG/LC_* of the test machine would leak into the cluster's messages and defaults
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
  });
  let text = '';
  const keep = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    if (text.length > 512_000) text = text.slice(-262_144);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    child.once('exit', (code, sig) => { exit = { code, signal: sig }; done(exit); });
    child.once('error', (e) => { text += `\nspawn ${tool}: ${e.message}`; exit ??= { code: null, signal: null }; done(exit); });
  });
  killAtExit(child, exited, { tree: true });
  return { child, output: () => text.slice(-262_144), exited, exit: () => exit };
}

async function initdb(dir: string, pwfile: string, owner: Owner | undefined): Promise<void> {
  const r = run('initdb', [
    '-D', join(dir, 'data'),
    '-U', SUPERUSER,
    '--pwfile', pwfile,
    '--auth', 'scram-sha-256',
    '--encoding', 'UTF8',
    // byte-order collation, as SQLite compares text; the schema also pins COLLATE "C" per column
    '--no-locale',
    // a throw-away cluster: nothing to lose in a power cut
    '--no-sync',
  ], dir, owner);
  if (!(await within(r.exited, 60_000))) {
    if (r.child.pid !== undefined) signal(r.child.pid, 'SIGKILL');
    await within(r.exited, 5_000);
    throw new Error(`initdb did not finish within 60 s\n${r.output().slice(-4_000)}`);
  }
  const exit = r.exit();
  if (exit?.code !== 0) throw new Error(`initdb failed (code ${exit?.code}, signal ${exit?.signal})\n${r.output().slice(-4_000)}`);
}

async function launch(dir: string, password: string, owner: Owner | undefined, readyTimeoutMs: number, durable: boolean): Promise<PgCluster> {
  const port = await freeTcpPort();
  const r = run('postgres', [
    '-D', join(dir, 'data'),
    '-p', String(port),
    '-k', dir,
    '-c', `listen_addresses=${HOST}`,
    '-c', 'unix_socket_permissions=0700',
    // durability is not what these tests measure (the ledger's guarantees are constraints and locks): off unless durable
    '-c', `fsync=${durable ? 'on' : 'off'}`,
    '-c', `synchronous_commit=${durable ? 'on' : 'off'}`,
    '-c', `full_page_writes=${durable ? 'on' : 'off'}`,
    '-c', 'max_connections=200',
    '-c', 'logging_collector=off',
  ], dir, owner);
  const pid = r.child.pid;
  if (pid === undefined) {
    await within(r.exited, 5_000);
    throw new Error(`postgres did not start\n${r.output()}`);
  }

  const urlFor = (database: string) => `postgres://${SUPERUSER}:${encodeURIComponent(password)}@${HOST}:${port}/${encodeURIComponent(database)}`;
  const adminUrl = urlFor('postgres');
  let created = 0;
  let removed = false;
  const cluster: PgCluster = {
    pid,
    port,
    dir,
    adminUrl,
    urlFor,
    async createDatabase(prefix = 'callpay_test') {
      if (!/^[a-z_][a-z0-9_]{0,30}$/.test(prefix)) throw new Error(`database prefix must be a short lower-case identifier, got ${JSON.stringify(prefix)}`);
      const name = `${prefix}_${++created}_${randomBytes(4).toString('hex')}`;
      await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
      return { name, url: urlFor(name) };
    },
    exited: r.exited,
    logs: r.output,
    async stop() {
      if (!r.exit()) {
        const backends = descendants(pid);
        signal(pid, 'SIGINT');
        if (!(await within(r.exited, 15_000))) {
          for (const p of [pid, ...backends, ...descendants(pid)]) signal(p, 'SIGKILL');
          await within(r.exited, 5_000);
        }
        // a killed postmaster leaves its backends to notice on their own: not waiting for that
        for (const p of backends) if (alive(p)) signal(p, 'SIGKILL');
      }
      if (!removed) {
        removed = true;
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };

  try {
    await waitFor('PostgreSQL to accept a connection', async () => {
      const exit = r.exit();
      if (exit) {
        const logs = r.output();
        if (/could not bind|Address already in use/i.test(logs)) throw new PortTaken(logs);
        throw new Error(`postgres exited (code ${exit.code}, signal ${exit.signal}) before it was ready\n${logs.slice(-8_000)}`);
      }
      return canConnect(adminUrl);
    }, { timeoutMs: readyTimeoutMs, intervalMs: 50 });
  } catch (err) {
    // PortTaken leaves the data directory for the next try; anything else ends here
    const logs = r.output();
    if (err instanceof PortTaken) {
      await within(r.exited, 5_000);
    } else {
      await cluster.stop();
      if (err instanceof Error && err.message.startsWith('timed out')) {
        throw new Error(`PostgreSQL did not accept a connection within ${readyTimeoutMs} ms\n${logs.slice(-8_000)}`);
      }
    }
    throw err;
  }
  return cluster;
}

/** One connection attempt, bounded to a second; the server still starting up is a plain "no". */
async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  // an error after connect (the server shutting down under us) must not become an unhandled 'error'
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function withAdmin<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, query_timeout: 30_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function freeTcpPort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? done(port) : fail(new Error('no free TCP port'))));
    });
  });
}
