// Cleanup: everything this process started, stopped by handle/PID; bounded.
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { AppContext } from '../../src/wiring/context.js';
import type { Daemon } from '../../src/wiring/daemon.js';
import type { CallEngine } from '../../src/telephony/engine.js';
import type { Sipp } from '../../test/helpers/sipp.js';
import { log, within } from './util.js';

export const children: ChildProcess[] = [];
export const sipps: Sipp[] = [];
export const engines: CallEngine[] = [];
export const dirs: string[] = [];
let daemonRef: { daemon: Daemon; ctx: AppContext } | null = null;
let cleaning: Promise<void> | undefined;

export function registerDaemon(daemon: Daemon, ctx: AppContext): void {
  daemonRef = { daemon, ctx };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const exited = new Promise((r) => child.once('exit', r));
  const kill = (sig: NodeJS.Signals) => {
    try {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, sig);
    } catch { /* gone */ }
  };
  kill('SIGTERM');
  if ((await within(exited, 5000, 'late')) === 'late') {
    kill('SIGKILL');
    await within(exited, 5000, 'late');
  }
}

export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    const step = async (what: string, f: () => Promise<unknown>, ms: number) => {
      try {
        if ((await within(f(), ms, 'late')) === 'late') log(`cleanup: ${what} took over ${ms} ms; moving on`);
      } catch (e) {
        log(`cleanup: ${what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    await step('load generator', () => Promise.all(children.map(stopChild)), 12_000);
    await step('call engine', () => Promise.all(engines.map((e) => e.close())), 10_000);
    await step('sipp', () => Promise.all(sipps.map((s) => s.stop())), 10_000);
    if (daemonRef) {
      const { daemon, ctx } = daemonRef;
      await step('daemon', () => daemon.stop(), 15_000);
      await step('database', () => ctx.close(), 5_000);
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  })();
  return cleaning;
}
