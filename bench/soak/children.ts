// Every process the soak starts (callpay serve, sipp), so that each is stopped by its PID on the way
// out: normal end, error, Ctrl-C, or the overall time limit.
import type { ChildProcess } from 'node:child_process';
import type { Sipp } from '../../test/helpers/sipp.js';
import { within } from './util.js';

const processes = new Set<ChildProcess>();
const sipps = new Set<Sipp>();

export function track(child: ChildProcess): void {
  processes.add(child);
  child.once('exit', () => processes.delete(child));
}

export function trackSipp(sipp: Sipp): void {
  sipps.add(sipp);
  void sipp.exited.then(() => sipps.delete(sipp));
}

const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null && c.pid !== undefined;

/** Sends `signal` to the child's PID if it still runs; never to anything else. */
export function signal(child: ChildProcess, sig: NodeJS.Signals): boolean {
  if (!alive(child)) return false;
  try {
    process.kill(child.pid!, sig);
    return true;
  } catch {
    return false; // gone meanwhile
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; waits (bounded) for the exit. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (!alive(child)) return;
  const exited = new Promise((r) => child.once('exit', r));
  signal(child, 'SIGTERM');
  if ((await within(exited, graceMs, 'late')) === 'late') {
    signal(child, 'SIGKILL');
    await within(exited, 5000, 'late');
  }
}

let stopping: Promise<void> | undefined;

/** Stops everything still running; safe to call more than once. */
export function stopAll(): Promise<void> {
  stopping ??= (async () => {
    await Promise.all([...processes].map((c) => stopChild(c, 3000)));
    await Promise.all([...sipps].map((s) => s.stop()));
  })().finally(() => (stopping = undefined));
  return stopping;
}

/** Last resort when the process exits without stopAll (an uncaught error): SIGKILL by PID, synchronously. */
process.once('exit', () => {
  for (const c of processes) signal(c, 'SIGKILL');
  for (const s of sipps) {
    try { process.kill(s.pid, 'SIGKILL'); } catch { /* gone */ }
  }
});
