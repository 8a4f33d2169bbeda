import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { descendants, killAtExit, signal, within } from './child.js';
import { waitFor } from './wait.js';
import { randomBytes } from 'node:crypto';

/**
 * Kamailio (Debian 12 `kamailio`, TLS from `kamailio-tls-modules`) as a carrier's edge proxy on loopback,
 * with test/kamailio/edge.cfg: Record-Route (double when the transport changes), loose routing of
 * in-dialog requests both ways, initial INVITEs relayed to one phone (sipp) over UDP or TCP, OPTIONS
 * answered by the proxy itself.
 *
 * Every setting goes in as a config define (-A NAME=value), so the config in the repository is what runs.
 * Each instance has its own free ports on 127.0.0.1 and its own temp directory (working dir, runtime dir,
 * pid file); it runs in the foreground (-DD -E) as a child of the test, logging to stderr, which is kept
 * for logs(). Ready = it answered a SIP OPTIONS on every listener. Stopped by PID: SIGTERM, then SIGKILL
 * of it and its worker processes, each bounded.
 *
 * Listener addresses for callpay's `telephony.sip.outboundProxy`: `udp` ("127.0.0.1:port"), or
 * `proxyUri('tcp' | 'tls')` ("sip:127.0.0.1:port;transport=tcp").
 */

export const EDGE_CFG = fileURLToPath(new URL('../kamailio/edge.cfg', import.meta.url));
const HOST = '127.0.0.1';

export interface StartKamailioOptions {
  /** The phone's "host:port": where initial INVITEs are relayed (sipp's `hostPort`). */
  phone: string;
  /** Transport to the phone. Default 'udp' (Debian's sipp: udp, or tcp with `-t t1`). */
  phoneTransport?: 'udp' | 'tcp';
  /**
   * Also listen for TLS, presenting this certificate (PEM paths, e.g. from test/helpers/test-ca.ts).
   * With `requireClient`, TLS clients must present a certificate signed by `requireClient.ca`;
   * its `cert`/`key` are one such client certificate, which the readiness probe shows.
   */
  tls?: { cert: string; key: string; requireClient?: { ca: string; cert: string; key: string } };
  /** Kamailio's debug level: 2 (info, default) logs one line per routed request; 3 traces much more. */
  logLevel?: number;
  /** How long to wait for an OPTIONS answer on every listener. Default 15 s. */
  readyTimeoutMs?: number;
}

export interface Kamailio {
  readonly pid: number;
  readonly udpPort: number;
  readonly tcpPort: number;
  /** Null without `tls`. */
  readonly tlsPort: number | null;
  /** "127.0.0.1:<udpPort>": an outbound proxy over UDP. */
  readonly udp: string;
  /** "sip:127.0.0.1:<port>;transport=<t>" for one listener (throws for tls when there is none). */
  proxyUri(transport: 'udp' | 'tcp' | 'tls'): string;
  /** The command line, for reports. */
  readonly command: string;
  readonly dir: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What Kamailio wrote to stderr so far (its whole log, the last 256 KB). */
  logs(): string;
  /** SIGTERM by PID, then SIGKILL (and its workers), each waited for at most 5 s; removes the temp dir. Safe twice. */
  stop(): Promise<void>;
}

class PortTaken extends Error {}

export async function startKamailio(options: StartKamailioOptions): Promise<Kamailio> {
  if (!/^[^\s:;"]+:\d{1,5}$/.test(options.phone)) throw new Error(`phone must be "host:port", got ${JSON.stringify(options.phone)}`);
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return await launch(options);
    } catch (err) {
      lastError = err;
      // another process took a port between our check and Kamailio's bind: new ports
      if (!(err instanceof PortTaken)) throw err;
    }
  }
  throw lastError;
}

async function launch(options: StartKamailioOptions): Promise<Kamailio> {
  const udpPort = await freeUdpPort();
  const tcpPort = await freeTcpPort();
  const tlsPort = options.tls ? await freeTcpPort([tcpPort]) : null;
  const dir = mkdtempSync(join(tmpdir(), 'callpay-kamailio-'));
  const runDir = join(dir, 'run');
  mkdirSync(runDir);
  const quoted = (value: string) => {
    if (/["\\\n]/.test(value)) throw new Error(`unusable in a Kamailio define: ${JSON.stringify(value)}`);
    return `"${value}"`;
  };
  const defines: string[] = [
    `UDP_PORT=${udpPort}`,
    `TCP_PORT=${tcpPort}`,
    `PHONE_URI=${quoted(`sip:${options.phone};transport=${options.phoneTransport ?? 'udp'}`)}`,
    `LOG_LEVEL=${options.logLevel ?? 2}`,
  ];
  if (options.tls) {
    defines.push('WITH_TLS', `TLS_PORT=${tlsPort}`, `TLS_CERT=${quoted(options.tls.cert)}`, `TLS_KEY=${quoted(options.tls.key)}`);
    if (options.tls.requireClient) defines.push('WITH_CLIENT_CERT', `TLS_CA=${quoted(options.tls.requireClient.ca)}`);
  }
  const args = [
    '-f', EDGE_CFG,
    '-DD', '-E', // foreground with its workers, log to stderr
    '-m', '32', '-M', '8',
    '-Y', runDir, '-P', join(dir, 'kamailio.pid'), '-w', dir,
    ...defines.flatMap((d) => ['-A', d]),
  ];
  const command = ['kamailio', ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`)).join(' ');

  const child = spawn(process.env.KAMAILIO_BIN ?? 'kamailio', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const keep = (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    if (stderr.length > 512_000) stderr = stderr.slice(-262_144);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const spawned = new Promise<void>((ok, fail) => {
    child.once('spawn', ok);
    child.once('error', (e: NodeJS.ErrnoException) =>
      fail(e.code === 'ENOENT' ? new Error('kamailio is not installed (Debian: apt-get install kamailio kamailio-tls-modules)') : e));
  });
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => { exit = { code, signal }; done(exit); }));
  killAtExit(child, exited, { tree: true });
  await spawned;
  const pid = child.pid!;

  let removed = false;
  const kamailio: Kamailio = {
    pid,
    udpPort,
    tcpPort,
    tlsPort,
    udp: `${HOST}:${udpPort}`,
    proxyUri(transport) {
      const port = transport === 'udp' ? udpPort : transport === 'tcp' ? tcpPort : tlsPort;
      if (port === null) throw new Error('this Kamailio has no TLS listener (start it with tls)');
      return `sip:${HOST}:${port};transport=${transport}`;
    },
    command,
    dir,
    exited,
    logs: () => stderr.slice(-262_144),
    async stop() {
      if (!exit) {
        const workers = descendants(pid);
        signal(pid, 'SIGTERM');
        if (!(await within(exited, 5_000))) {
          for (const p of [pid, ...workers]) signal(p, 'SIGKILL');
          await within(exited, 5_000);
        }
        // Kamailio's main process ends its workers; any left over (it was killed) go by PID too
        for (const p of workers) if (alive(p)) signal(p, 'SIGKILL');
      }
      if (!removed) {
        removed = true;
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };

  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  const deadline = Date.now() + readyTimeoutMs;
  const probes: Array<[string, () => Promise<boolean>]> = [
    ['UDP', () => optionsOverUdp(udpPort)],
    ['TCP', () => optionsOverStream('tcp', tcpPort)],
    ...(tlsPort === null ? [] : [['TLS', () => optionsOverStream('tls', tlsPort, options.tls)] as [string, () => Promise<boolean>]]),
  ];
  const exitedEarly = () => {
    const logs = kamailio.logs();
    if (/Address already in use|bind\(\).*failed|could not bind/i.test(logs)) return new PortTaken(logs);
    return new Error(`kamailio exited (code ${exit?.code}, signal ${exit?.signal}) before it was ready\n$ ${command}\n${logs.slice(-8_000)}`);
  };
  try {
    for (const [name, probe] of probes) {
      // Each probe is one OPTIONS and its answer (bounded); polled until the listener answers or the deadline.
      await waitFor(`kamailio to answer OPTIONS over ${name}`, async () => {
        if (exit) throw exitedEarly();
        return probe();
      }, { timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: 100 }).catch((err: unknown) => {
        if (err instanceof PortTaken || exit) throw err;
        throw new Error(`kamailio did not answer OPTIONS on every listener within ${readyTimeoutMs} ms\n$ ${command}\n${kamailio.logs().slice(-8_000)}`);
      });
    }
  } catch (err) {
    await kamailio.stop();
    throw err;
  }
  return kamailio;
}

function optionsRequest(transport: 'UDP' | 'TCP' | 'TLS', localPort: number, port: number): string {
  const branch = `z9hG4bK-probe-${randomBytes(6).toString('hex')}`;
  return [
    `OPTIONS sip:${HOST}:${port} SIP/2.0`,
    `Via: SIP/2.0/${transport} ${HOST}:${localPort};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:probe@${HOST}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <sip:${HOST}:${port}>`,
    `Call-ID: probe-${randomBytes(8).toString('hex')}@${HOST}`,
    'CSeq: 1 OPTIONS',
    'Content-Length: 0',
    '', '',
  ].join('\r\n');
}

/** One OPTIONS over UDP, answered 200 within a second. */
function optionsOverUdp(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createSocket('udp4');
    let timer: NodeJS.Timeout | undefined;
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      try { socket.close(); } catch { /* closed */ }
      done(ok);
    };
    socket.once('error', () => finish(false));
    socket.on('message', (msg) => { if (msg.toString('latin1').startsWith('SIP/2.0 200')) finish(true); });
    socket.bind(0, HOST, () => {
      socket.send(optionsRequest('UDP', socket.address().port, port), port, HOST);
      timer = setTimeout(() => finish(false), 1_000);
    });
  });
}

/**
 * One OPTIONS over a fresh TCP or TLS connection, answered 200 within two seconds. The probe checks the
 * listener works, not its certificate (the tests present untrusted ones on purpose); it shows the client
 * certificate when the listener requires one.
 */
function optionsOverStream(transport: 'tcp' | 'tls', port: number, tls?: StartKamailioOptions['tls']): Promise<boolean> {
  return new Promise((done) => {
    let socket: Socket;
    let timer: NodeJS.Timeout | undefined;
    let text = '';
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      done(ok);
    };
    const send = () => socket.write(optionsRequest(transport === 'tls' ? 'TLS' : 'TCP', socket.localPort ?? 0, port));
    if (transport === 'tls') {
      const client = tls?.requireClient;
      const clientCert = client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {};
      socket = tlsConnect({ host: HOST, port, rejectUnauthorized: false, ...clientCert }, send);
    } else {
      socket = tcpConnect({ host: HOST, port }, send);
    }
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.startsWith('SIP/2.0 200')) finish(true);
      else if (text.includes('\r\n\r\n')) finish(false);
    });
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
    timer = setTimeout(() => finish(false), 2_000);
  });
}

function freeUdpPort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createSocket('udp4');
    s.once('error', fail);
    s.bind(0, HOST, () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}

async function freeTcpPort(avoid: number[] = []): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((done, fail) => {
      const server = createServer();
      server.once('error', fail);
      server.listen(0, HOST, () => {
        const address = server.address();
        const p = typeof address === 'object' && address ? address.port : 0;
        server.close(() => done(p));
      });
    });
    if (!avoid.includes(port)) return port;
  }
  throw new Error('no free TCP port');
}


function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

