import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAtExit, signal, sleep, within } from './child.js';

/**
 * sipp (Debian `sip-tester` 3.6.1) as a real SIP peer on loopback, one process per phone or caller.
 *
 * Each instance gets its own SIP port, RTP port (-mp, which sipp binds with -mp+2 at start-up, so two
 * instances can't share it) and control port (-cp, default 8888), all free UDP ports on 127.0.0.1.
 * Readiness = its SIP and RTP ports are bound by that very process (/proc/net/udp inode in
 * /proc/<pid>/fd); never a probe message (an out-of-dialog OPTIONS crashes an answering scenario).
 * It runs in the foreground (-bg would fork and hide the PID), ends by itself (-m calls, -timeout with
 * -timeout_error), and is stopped by PID: SIGTERM, then SIGKILL, each bounded.
 * play_pcap_audio sends through a raw socket: sipp must run as root (or with CAP_NET_RAW).
 */

export const SIP_DIR = fileURLToPath(new URL('../../sip/', import.meta.url));
const HOST = '127.0.0.1';

/** Keys ([name] in the scenarios) that have a default; see each scenario's header comment. */
export const DEFAULT_KEYS: Readonly<Record<string, string>> = {
  dtmf_pt: '101',
  audio_pts: '0 8',
  info_digits: '4411',
  hangup_after_ms: '1000',
  reinvite_after_ms: '500',
  hold_ms: '2000',
  resume_dtmf_pt: '96',
  auth_user: 'callpay',
  auth_pass: 'secret',
  auth_realm: 'callpay.test',
};

export interface StartSippOptions {
  /** A file in sip/ without ".xml" (e.g. 'answer-dtmf'), or a path to a scenario file. */
  scenario: string;
  /** Keys of the scenario, passed as `-key name value` and used as [name]; merged over DEFAULT_KEYS. */
  vars?: Record<string, string>;
  /** The pcap that play_pcap_audio plays: sets the key `pcap` (made absolute). */
  pcap?: string;
  /** "host:port" to call: makes it a caller (UAC scenario). */
  remote?: string;
  /** -s: user part of the request URI a caller uses. Default 'phone'. */
  service?: string;
  /** -au / -ap: the credentials a caller answers a digest challenge with. */
  authUser?: string;
  authPassword?: string;
  /** -m: sipp exits after this many calls. Default 1. */
  calls?: number;
  /** -timeout with -timeout_error: sipp gives up and exits 255 after this long (whole seconds). Default 30 s. */
  timeoutMs?: number;
  /** -rtp_echo: echo the RTP it receives back to its sender. Default off (received RTP is dropped). */
  rtpEcho?: boolean;
  /** SIP transport: 'tcp' = `-t t1` (one TCP connection per call; its SIP port is then a TCP listener). Default 'udp'. */
  transport?: 'udp' | 'tcp';
  /** More sipp options, appended last. */
  args?: string[];
  /** How long to wait for its ports to be bound. Default 5 s. */
  readyTimeoutMs?: number;
  /** Its SIP port, when the test must name it beforehand (e.g. in callpay's trusted sources); default any free one. */
  sipPort?: number;
}

export interface SippExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Sipp {
  readonly scenario: string;
  readonly pid: number;
  /** Its SIP port on 127.0.0.1 (UDP, or TCP with transport 'tcp'). */
  readonly port: number;
  /** Its RTP port: the m=audio port of its SDP, and the source port of the RTP it plays. */
  readonly mediaPort: number;
  /** "127.0.0.1:<port>", for `remote` of another instance or a SIP proxy setting. */
  readonly hostPort: string;
  /** "sip:phone@127.0.0.1:<port>" (";transport=tcp" added over TCP): where to call it. */
  readonly uri: string;
  /** The sipp command line, for reports. */
  readonly command: string;
  /** Its working directory: trace files. Removed by stop() unless CALLPAY_KEEP_SIPP=1. */
  readonly dir: string;
  readonly exited: Promise<SippExit>;
  /**
   * Waits for sipp to end by itself (bounded: its -timeout plus 5 s): code 0 = every call passed,
   * 1 = a call failed, 99 = no call, 254/255 = fatal. A sipp that stop() ended gives code null and
   * stopped true (sipp exits 0 on SIGTERM, which must not read as a pass).
   */
  outcome(): Promise<{ code: number | null; stopped: boolean }>;
  /** SIGTERM by PID, then SIGKILL, each waited for at most 2 s. Safe to call twice. */
  stop(): Promise<void>;
  /** Command, errors, stderr and the tail of the SIP message trace: for failure messages. */
  logs(): string;
  /** Its whole SIP message trace (-trace_msg). */
  messages(): string;
  /** The lines its scenario's <log> actions wrote (-trace_logs). */
  actionLog(): string;
}


export function scenarioPath(scenario: string): string {
  if (scenario.endsWith('.xml') || isAbsolute(scenario) || scenario.includes('/')) return resolve(scenario);
  return join(SIP_DIR, `${scenario}.xml`);
}

/** Extra sipp options a scenario declares it needs, in a comment: <!-- sipp-args: -nr --> */
function declaredArgs(xml: string): string[] {
  const m = /<!--\s*sipp-args:([^]*?)-->/.exec(xml);
  return m ? m[1]!.trim().split(/\s+/).filter(Boolean) : [];
}

export async function startSipp(options: StartSippOptions): Promise<Sipp> {
  const file = scenarioPath(options.scenario);
  if (!existsSync(file)) throw new Error(`sipp scenario not found: ${file}`);
  const xml = readFileSync(file, 'utf8');
  const keys: Record<string, string> = { ...DEFAULT_KEYS, ...(options.vars ?? {}) };
  if (options.pcap !== undefined) keys.pcap = resolve(options.pcap);
  if (xml.includes('[pcap]')) {
    // sipp reads the pcap when it loads the scenario, and dies on a missing one
    if (keys.pcap === undefined) throw new Error(`${options.scenario}: needs a pcap (startSipp({ pcap }))`);
    if (!existsSync(keys.pcap)) throw new Error(`${options.scenario}: pcap not found: ${keys.pcap}`);
  }

  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      return await launch(options, file, xml, keys);
    } catch (err) {
      lastError = err;
      // another process took one of the ports between our check and sipp's bind: new ports
      if (!(err instanceof PortTaken)) throw err;
    }
  }
  throw lastError;
}

class PortTaken extends Error {}

async function launch(options: StartSippOptions, file: string, xml: string, keys: Record<string, string>): Promise<Sipp> {
  const [freeSipPort, mediaPort, controlPort] = await freePorts();
  const port = options.sipPort ?? freeSipPort;
  const dir = mkdtempSync(join(tmpdir(), 'callpay-sipp-'));
  const timeoutMs = options.timeoutMs ?? 30_000;
  const files = {
    errors: join(dir, 'errors.log'),
    messages: join(dir, 'messages.log'),
    short: join(dir, 'shortmessages.log'),
    actions: join(dir, 'actions.log'),
    screen: join(dir, 'screen.log'),
    stdout: join(dir, 'stdout.log'),
    stderr: join(dir, 'stderr.log'),
  };
  const args = [
    ...(options.remote ? [options.remote] : []),
    '-sf', file,
    '-i', HOST, '-p', String(port), '-bind_local',
    '-mi', HOST, '-mp', String(mediaPort),
    '-ci', HOST, '-cp', String(controlPort),
    '-m', String(options.calls ?? 1),
    '-timeout', `${Math.ceil(timeoutMs / 1000)}s`, '-timeout_error', // sipp 3.6.1 counts whole seconds
    '-nostdin',
    '-trace_err', '-error_file', files.errors,
    '-trace_msg', '-message_file', files.messages,
    '-trace_shortmsg', '-shortmessage_file', files.short,
    '-trace_logs', '-log_file', files.actions,
    '-trace_screen', '-screen_file', files.screen,
    '-s', options.service ?? 'phone',
    ...(options.authUser !== undefined ? ['-au', options.authUser] : []),
    ...(options.authPassword !== undefined ? ['-ap', options.authPassword] : []),
    ...(options.rtpEcho ? ['-rtp_echo'] : []),
    ...(options.transport === 'tcp' ? ['-t', 't1'] : []),
    ...Object.entries(keys).flatMap(([k, v]) => ['-key', k, v]),
    ...declaredArgs(xml),
    ...(options.args ?? []),
  ];
  const command = ['sipp', ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');

  const out = openSync(files.stdout, 'w');
  const err = openSync(files.stderr, 'w');
  let child: ChildProcess;
  try {
    child = spawn(process.env.SIPP_BIN ?? 'sipp', args, { cwd: dir, stdio: ['ignore', out, err] });
  } finally {
    closeSync(out);
    closeSync(err);
  }
  const spawned = new Promise<void>((ok, fail) => {
    child.once('spawn', ok);
    child.once('error', (e: NodeJS.ErrnoException) =>
      fail(e.code === 'ENOENT' ? new Error('sipp is not installed (Debian: apt-get install sip-tester)') : e));
  });
  const exited = new Promise<SippExit>((done) => child.once('exit', (code, signal) => done({ code, signal })));
  killAtExit(child, exited);
  await spawned;
  const pid = child.pid!;

  const read = (path: string) => { try { return readFileSync(path, 'utf8'); } catch { return ''; } };
  let cached: { errors: string; stderr: string; messages: string; actions: string } | undefined;
  const snapshot = () => cached ?? { errors: read(files.errors), stderr: read(files.stderr), messages: read(files.messages), actions: read(files.actions) };
  let exit: SippExit | undefined;
  let stopped = false;
  void exited.then((e) => { exit = e; });

  const sipp: Sipp = {
    scenario: options.scenario,
    pid,
    port,
    mediaPort,
    hostPort: `${HOST}:${port}`,
    uri: `sip:phone@${HOST}:${port}${options.transport === 'tcp' ? ';transport=tcp' : ''}`,
    command,
    dir,
    exited,
    async outcome() {
      const bound = timeoutMs + 5_000;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((done) => { timer = setTimeout(() => done('late'), bound); });
      const result = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (result === 'late') {
        await sipp.stop();
        throw new Error(`sipp ${options.scenario} did not end within ${bound} ms\n${sipp.logs()}`);
      }
      return stopped ? { code: null, stopped } : { code: result.code, stopped };
    },
    async stop() {
      if (!exit) {
        stopped = true;
        signal(pid, 'SIGTERM');
        if (!(await within(exited, 2_000))) {
          signal(pid, 'SIGKILL');
          await within(exited, 2_000);
        }
      }
      if (!cached) {
        cached = snapshot();
        if (process.env.CALLPAY_KEEP_SIPP !== '1') rmSync(dir, { recursive: true, force: true });
      }
    },
    logs() {
      const s = snapshot();
      const state = exit ? `exited code=${exit.code} signal=${exit.signal}` : 'running';
      return [
        `$ ${command}`,
        `(pid ${pid}, ${state}, dir ${dir})`,
        '--- errors', s.errors.trim(),
        '--- stderr', s.stderr.trim(),
        '--- <log> actions', s.actions.trim(),
        '--- SIP messages (last 12 KB)', s.messages.slice(-12_000).trim(),
      ].join('\n');
    },
    messages: () => snapshot().messages,
    actionLog: () => snapshot().actions,
  };

  const readyBy = Date.now() + (options.readyTimeoutMs ?? 5_000);
  for (;;) {
    if (exit) {
      // a quick caller can be done before the first look: its calls ran (it traced messages), and
      // outcome() tells how; a scenario sipp refused to load exits 1 too, having sent nothing
      if ((exit.code === 0 || exit.code === 1) && sipp.messages().length > 0) return sipp;
      const logs = sipp.logs();
      await sipp.stop();
      // 254 = sipp's -2, "fatal error binding a socket"
      if (exit.code === 254 || /Unable to bind|Address already in use/i.test(logs)) throw new PortTaken(logs);
      throw new Error(`sipp ${options.scenario} exited before it was ready\n${logs}`);
    }
    const sipBound = options.transport === 'tcp' ? tcpListeningBy(pid, port) && boundBy(pid, [mediaPort]) : boundBy(pid, [port, mediaPort]);
    if (sipBound) return sipp;
    if (Date.now() > readyBy) {
      await sipp.stop();
      throw new Error(`sipp ${options.scenario} did not bind ${HOST}:${port} and :${mediaPort} in time\n${sipp.logs()}`);
    }
    await sleep(20);
  }
}


export interface TracedMessage {
  direction: 'sent' | 'received';
  /** The SIP message as on the wire (CRLF line ends). */
  text: string;
  /** Its first line: request line or status line. */
  firstLine: string;
}

/** The messages of a -trace_msg file, in order (what Sipp.messages() returns, parsed). */
export function parseSipTrace(trace: string): TracedMessage[] {
  const out: TracedMessage[] = [];
  for (const block of trace.split(/^-{10,}[^\n]*\n/m)) {
    const m = /^(?:UDP|TCP) message (sent|received)[^\n]*\n\n([^]*)$/.exec(block);
    if (!m) continue;
    const text = m[2]!.replace(/\n+$/, '');
    out.push({ direction: m[1] as 'sent' | 'received', text, firstLine: text.split(/\r?\n/, 1)[0]! });
  }
  return out;
}

function socketInodes(pid: number): Set<string> | null {
  try {
    return new Set(
      readdirSync(`/proc/${pid}/fd`)
        .map((fd) => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } })
        .map((link) => /^socket:\[(\d+)\]$/.exec(link)?.[1])
        .filter((i): i is string => i !== undefined),
    );
  } catch {
    return null;
  }
}

/** True when this process has a TCP socket listening on the port (state 0A = LISTEN). */
export function tcpListeningBy(pid: number, port: number): boolean {
  const inodes = socketInodes(pid);
  if (!inodes) return false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      if (!local || f[3] !== '0A' || !f[9] || !inodes.has(f[9])) continue;
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) return true;
    }
  }
  return false;
}

/** True when every port has a UDP socket bound by this process (not merely by someone). */
export function boundBy(pid: number, ports: number[]): boolean {
  const inodes = socketInodes(pid);
  if (!inodes) return false;
  const bound = new Set<number>();
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try { text = readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      const inode = f[9];
      if (!local || !inode || !inodes.has(inode)) continue;
      bound.add(parseInt(local.slice(local.lastIndexOf(':') + 1), 16));
    }
  }
  return ports.every((p) => bound.has(p));
}

async function bindUdp(port: number): Promise<Socket | undefined> {
  const s = createSocket('udp4');
  return new Promise((done) => {
    s.once('error', () => { s.close(); done(undefined); });
    s.bind(port, HOST, () => done(s));
  });
}

/** A SIP port, an RTP port whose +2 is free too (sipp binds both), and a control port. */
async function freePorts(): Promise<[number, number, number]> {
  const held: Socket[] = [];
  try {
    const any = async () => {
      const s = (await bindUdp(0))!;
      held.push(s);
      return s.address().port;
    };
    const sip = await any();
    const control = await any();
    for (let i = 0; i < 50; i++) {
      const media = await any();
      if (media + 2 > 65535) continue;
      const plus2 = await bindUdp(media + 2);
      if (plus2) {
        held.push(plus2);
        return [sip, media, control];
      }
    }
    throw new Error('no free UDP port pair for sipp media');
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
