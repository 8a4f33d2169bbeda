import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/callpay.js', import.meta.url));
/** `callpay serve` that SIGKILLs itself right after recording a PIN approval, before the charge. */
export const CRASH_AFTER_APPROVAL = fileURLToPath(new URL('./serve-crash-after-approval.mjs', import.meta.url));

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  /** Resolves with the exit code and signal once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  /** Sends `signal` to the PID and waits (bounded) for the exit; SIGKILL if it overstays. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `callpay serve` as a real process and waits until it says where it listens. */
export async function startServe(cwd: string, env: Record<string, string>, timeoutMs = 15_000, launcher = BIN): Promise<ServeProcess> {
  const child = spawn(process.execPath, [launcher, 'serve'], {
    cwd,
    env: { PATH: process.env.PATH ?? '', CALLPAY_HTTP_PORT: '0', CALLPAY_ADMIN_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`callpay serve did not start within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const check = () => {
      const m = /serving on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stderr?.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`callpay serve exited before listening:\n${out}`));
    });
  });
  return {
    url,
    child,
    exited,
    output: () => out,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}
