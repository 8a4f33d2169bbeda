import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Worker threads that keep time (RTP pacing, SIP signalling) ask Linux for a higher priority than
 * the main thread's HTTP and database work, so a busy daemon cannot make them wait for a CPU. On
 * Linux a thread's id works as a pid for setpriority and sched_setscheduler.
 *
 * Two levels, as media servers do (FreeSWITCH `-rp`, Asterisk `-p`):
 * - a nice value (needs CAP_SYS_NICE, or RLIMIT_NICE: systemd `LimitNICE=`);
 * - optionally the real-time policy SCHED_FIFO at a priority (needs CAP_SYS_NICE or RLIMIT_RTPRIO:
 *   systemd `LimitRTPRIO=`, and `RestrictRealtime=no`), set with util-linux `chrt` since Node has no
 *   call for it. A real-time thread runs as soon as it wakes, ahead of every normal one; the kernel's
 *   RT throttling (kernel.sched_rt_runtime_us, 95 % by default) still leaves the rest of the machine
 *   a share if it ever spun.
 * Without the permission the thread runs as before, with less margin under load.
 */

/** This thread's Linux id; undefined off Linux. */
export function linuxThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

export interface PriorityResult {
  /** Why each step that was asked for did not happen (for a debug line); empty when all did. */
  notDone: string[];
}

export function raiseThreadPriority(opts: { nice: number; realtime?: number }): PriorityResult {
  const notDone: string[] = [];
  const tid = linuxThreadId();
  if (tid === undefined) return { notDone: ['no thread id (not Linux)'] };
  try {
    setPriority(tid, opts.nice);
  } catch (e) {
    notDone.push(`nice ${opts.nice}: ${(e as Error).message} (needs CAP_SYS_NICE or RLIMIT_NICE)`);
  }
  const rt = opts.realtime ?? 0;
  if (rt > 0) {
    try {
      execFileSync('chrt', ['--fifo', '--pid', String(rt), String(tid)], { stdio: 'ignore', timeout: 2_000 });
    } catch (e) {
      notDone.push(`SCHED_FIFO ${rt}: chrt failed (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; needs util-linux chrt and CAP_SYS_NICE or RLIMIT_RTPRIO)`);
    }
  }
  return { notDone };
}
