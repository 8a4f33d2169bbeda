// CPU, scheduler and UDP statistics from Linux /proc (NaN or empty elsewhere).
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // /proc/<pid>/stat counts CPU in clock ticks: USER_HZ = 100 on Linux

/** User + system CPU of another process (all its threads) in ms, NaN when gone. */
export function procCpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return NaN;
  }
}

/** Datagrams the kernel dropped on the UDP socket bound to 127.0.0.1:port (the "drops" column). */
export function udpDrops(port: number): number {
  try {
    const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1] === want) return Number(f[12]);
    }
  } catch { /* not Linux */ }
  return NaN;
}

/** Busy CPU time of the whole machine in ms (all cores; /proc/stat: all but idle and iowait), NaN off Linux. */
export function machineBusyMs(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user … steal (guest time is inside user)
    return (total - (f[3] ?? 0) - (f[4] ?? 0)) * TICK_MS;
  } catch {
    return NaN;
  }
}

export interface Sched { cpuNs: number; waitNs: number; slices: number }

/**
 * Per-thread scheduler statistics of this process (/proc/self/task/<tid>/schedstat: time on a CPU,
 * time runnable but waiting for one, number of times scheduled). Empty off Linux.
 */
export function threadSched(): Map<number, Sched> {
  const out = new Map<number, Sched>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      try {
        const [cpu, wait, slices] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
        out.set(Number(tid), { cpuNs: cpu ?? 0, waitNs: wait ?? 0, slices: slices ?? 0 });
      } catch { /* thread ended */ }
    }
  } catch { /* not Linux */ }
  return out;
}

/** What one thread did between two snapshots: CPU %, ms per s spent runnable but not running, mean wait per scheduling. */
export function schedDelta(a: Map<number, Sched>, b: Map<number, Sched>, tid: number | undefined, dtMs: number): { cpuPct: number; waitMsPerS: number; waitUsPerRun: number } {
  const x = tid === undefined ? undefined : a.get(tid);
  const y = tid === undefined ? undefined : b.get(tid);
  if (!x || !y) return { cpuPct: NaN, waitMsPerS: NaN, waitUsPerRun: NaN };
  const runs = y.slices - x.slices;
  return {
    cpuPct: ((y.cpuNs - x.cpuNs) / 1e6 / dtMs) * 100,
    waitMsPerS: (y.waitNs - x.waitNs) / 1e6 / (dtMs / 1000),
    waitUsPerRun: runs > 0 ? (y.waitNs - x.waitNs) / 1e3 / runs : NaN,
  };
}
