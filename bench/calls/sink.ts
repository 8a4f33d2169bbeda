// The phones' ear: bench/calls/rtp-sink.c, compiled with `cc -O2` into a temp dir when the bench starts,
// run once per round. Every call's SDP answer (sip/bench-answer-sink.xml) points at its one UDP port;
// it timestamps each RTP packet in the kernel (SO_TIMESTAMPNS) and measures inter-arrival times and
// loss per stream (SSRC and source port). Driven over stdin: `reset` opens the window, `report`
// returns one JSON line.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { children, dirs } from './cleanup.js';
import { within } from './util.js';

const SOURCE = fileURLToPath(new URL('./rtp-sink.c', import.meta.url));

/** What the sink saw in the window, over all streams. Interval figures in ms; NaN when none. */
export interface PhoneSide {
  packets: number;
  streams: number;
  intervals: number;
  p50: number;
  p99: number;
  max: number;
  /** Inter-arrival times outside 20 ± 2 ms. */
  outOfBand: number;
  /** From the RTP sequence numbers: packets expected (highest − first + 1, per stream) and not received. */
  expected: number;
  lost: number;
  outOfOrder: number;
  duplicates: number;
  /** Datagrams the kernel dropped on the sink's own socket (its receive buffer was full): loss of the bench, not of callpay. */
  kernelDrops: number;
  /** Packets without a kernel timestamp (timed in user space instead): should be 0. */
  noKernelTimestamp: number;
  /** The sink's own CPU in the window, % of one core (filled in by measure.ts). */
  sinkCpuPct: number;
}

/** Compiles the sink; exits 2 with how to get a C compiler when there is none. */
export function buildSink(): string {
  const dir = mkdtempSync(join(tmpdir(), 'callpay-bench-sink-'));
  dirs.push(dir);
  const bin = join(dir, 'rtp-sink');
  const r = spawnSync('cc', ['-O2', '-o', bin, SOURCE], { encoding: 'utf8', timeout: 60_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    console.error('bench/calls: no C compiler (`cc`) to build the RTP sink, bench/calls/rtp-sink.c: install one (Debian/Ubuntu: apt-get install gcc)');
    process.exit(2);
  }
  if (r.status !== 0) throw new Error(`cc -O2 ${SOURCE} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return bin;
}

export interface Sink {
  readonly port: number;
  readonly pid: number | undefined;
  /** Forgets what came before: the window starts now. */
  reset(): void;
  report(): Promise<PhoneSide>;
  stop(): Promise<void>;
}

/** Starts the sink on 127.0.0.1 (a free port whose + 1 is free too); it exits by itself after limitMs. */
export async function startSink(bin: string, limitMs: number): Promise<Sink> {
  const child: ChildProcess = spawn(bin, [String(Math.ceil(limitMs / 1000))], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let buf = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiting.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const nextLine = async (what: string): Promise<string> => {
    const ready = lines.shift();
    if (ready !== undefined) return ready;
    const line = await within(new Promise<string>((r) => waiting.push(r)), 5_000, null);
    if (line === null) throw new Error(`the RTP sink did not answer ${what} within 5 s`);
    return line;
  };
  const first = await nextLine('start-up');
  const m = /^ready (\d+)/.exec(first);
  if (!m) throw new Error(`the RTP sink did not start: ${first}`);
  const send = (cmd: string) => child.stdin!.write(`${cmd}\n`);
  return {
    port: Number(m[1]),
    pid: child.pid,
    reset: () => void send('reset'),
    async report() {
      send('report');
      const raw = { ...(JSON.parse(await nextLine('report')) as Record<keyof PhoneSide, number>), sinkCpuPct: NaN };
      // the sink reports -1 for interval figures when it had none
      for (const k of ['p50', 'p99'] as const) if (raw[k] < 0) raw[k] = NaN;
      return raw;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin!.end('quit\n');
      if ((await within(exited, 2_000, 'late')) === 'late') child.kill('SIGKILL');
      children.splice(children.indexOf(child), 1);
    },
  };
}
