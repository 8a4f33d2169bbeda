import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../wait.js';

const MAIN = fileURLToPath(new URL('./main.mjs', import.meta.url));

/** What one dialled number does (keys: the number without "+"). */
export interface NumberPlan {
  outcome?: 'answer' | 'busy' | 'no_answer' | 'cause' | 'silent';
  cause?: string;
  ringMs?: number;
  clipMs?: number;
  /** Digits keyed `ms` after an anchor: 'answer', 'playback_start1', 'playback_end1', ... */
  keys?: Array<{ after?: string; ms?: number; digits: string; gapMs?: number; inband?: boolean }>;
  hangupAfter?: string;
  hangupMs?: number;
  dropAfter?: string;
  dropMs?: number;
}

export interface PeerScenario {
  /** One plan, or one per successive dial of that number (the last repeats). */
  numbers: Record<string, NumberPlan | NumberPlan[]>;
  clipMs?: number;
}

export interface EslPeer {
  port: number;
  pid: number;
  /** Lines the peer printed: "CMD {...}", "PLAYBACK {...}", "HANGUP {...}", "DROP", "PARK_TIMEOUT". */
  lines(): string[];
  commands(): string[];
  stop(): Promise<void>;
}

/** Starts the event-socket peer as its own process, waits until its port is bound, stops it by PID. */
export async function startEslPeer(opts: { dir: string; scenario: PeerScenario; port?: number; password?: string }): Promise<EslPeer> {
  const file = join(opts.dir, `esl-scenario-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(opts.scenario));
  const child: ChildProcess = spawn(process.execPath, [MAIN, '--scenario', file, '--port', String(opts.port ?? 0), '--password', opts.password ?? 'ClueCon', '--max-seconds', '120'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out: string[] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    out.push(...parts);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const portLine = await waitFor('the event-socket peer to listen', () => out.find((l) => l.startsWith('LISTENING ')), { timeoutMs: 10_000 });
  return {
    port: Number(portLine.slice('LISTENING '.length)),
    pid: child.pid!,
    lines: () => [...out],
    commands: () => out.filter((l) => l.startsWith('CMD ')).map((l) => (JSON.parse(l.slice(4)) as { line: string }).line),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    },
  };
}
