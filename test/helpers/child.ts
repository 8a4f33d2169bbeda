import { readdirSync, readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';

/** Small process utilities the peers' harnesses share (sipp.ts, kamailio.ts). */

const live = new Map<ChildProcess, { tree: boolean }>();
let exitHookInstalled = false;

/**
 * Last resort if a test run dies without its afterEach/afterAll: the child (and with `tree`, the
 * processes it forked, e.g. Kamailio's workers) is SIGKILLed when the test process exits.
 */
export function killAtExit(child: ChildProcess, exited: Promise<unknown>, opts: { tree?: boolean } = {}): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const [c, { tree }] of live) {
        if (c.pid === undefined) continue;
        for (const pid of [...(tree ? descendants(c.pid) : []), c.pid]) {
          try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
        }
      }
    });
  }
  live.set(child, { tree: opts.tree === true });
  void exited.then(() => live.delete(child));
}


/** Sends a signal; a process already gone is not an error. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** Whether `p` settles within `ms` (it is never rejected from here). */
export function within<T>(p: Promise<T>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(() => true),
    new Promise<boolean>((done) => { timer = setTimeout(() => done(false), ms); }),
  ]).finally(() => clearTimeout(timer));
}

/** The poll interval of bounded readiness loops (a port bound, a file written): not a synchronisation. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every process whose parent chain leads to `root` (Kamailio's workers), from /proc. */
export function descendants(root: number): number[] {
  const parentOf = new Map<number, number>();
  let entries: string[] = [];
  try { entries = readdirSync('/proc'); } catch { return []; }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // the command name is in parentheses and may hold spaces: the fields after the last ")"
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(fields[1]));
    } catch { /* gone meanwhile */ }
  }
  const found: number[] = [];
  const wanted = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parentOf) {
      if (wanted.has(ppid) && !wanted.has(pid)) {
        wanted.add(pid);
        found.push(pid);
        grew = true;
      }
    }
  }
  return found;
}
