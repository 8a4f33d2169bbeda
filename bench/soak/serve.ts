// `callpay serve` as a real child process (bin/callpay.js runs the built dist/), its output appended
// to a log file in the soak's directory, and its two ends: ready ("serving on <url>") or gone.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { signal, track } from './children.js';
import { within } from './util.js';

/** The launcher of the working tree's build (dist/). */
export const BIN = fileURLToPath(new URL('../../bin/callpay.js', import.meta.url));

export interface ServeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Serve {
  child: ChildProcess;
  spawnedAt: number;
  /** The base URL once it listens, or null when it died (or was killed) before. */
  ready: Promise<string | null>;
  readyAt: number | null;
  exited: Promise<ServeExit>;
  /** The last few KiB of its output, for error messages. */
  tail(): string;
  kill(sig?: NodeJS.Signals): boolean;
}

export function spawnServe(launcher: string, cwd: string, env: Record<string, string>, logFile: string, label: string, readyTimeoutMs = 20_000): Serve {
  const log = createWriteStream(logFile, { flags: 'a' });
  log.write(`\n===== ${new Date().toISOString()} ${label}\n`);
  const child = spawn(process.execPath, [launcher, 'serve'], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  let tail = '';
  const onData = (d: Buffer) => {
    log.write(d);
    tail = (tail + d.toString()).slice(-4096);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<ServeExit>((resolve) =>
    child.once('exit', (code, sig) => {
      log.end(`----- exit code ${code} signal ${sig}\n`);
      resolve({ code, signal: sig });
    }),
  );
  const serve: Serve = {
    child,
    spawnedAt: Date.now(),
    readyAt: null,
    ready: Promise.resolve(null),
    exited,
    tail: () => tail,
    kill: (sig = 'SIGKILL') => signal(child, sig),
  };
  const listening = new Promise<string | null>((resolve) => {
    let seen = '';
    const check = (d: Buffer) => {
      seen += d.toString();
      const m = /serving on (http:\/\/\S+)/.exec(seen);
      if (m?.[1]) {
        child.stderr!.off('data', check);
        serve.readyAt = Date.now();
        resolve(m[1]);
      }
    };
    child.stderr!.on('data', check);
    void exited.then(() => resolve(null));
  });
  serve.ready = within(listening, readyTimeoutMs, 'late' as const).then((r) => {
    if (r !== 'late') return r;
    signal(child, 'SIGKILL');
    throw new Error(`callpay serve did not listen within ${readyTimeoutMs} ms:\n${tail}`);
  });
  return serve;
}
