import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Worker threads that keep time (RTP pacing, SIP signalling) ask Linux for a higher priority than
 * the main thread's HTTP and database work, so a busy daemon cannot make them wait for a CPU. On
 * Linux a thread's id works as a pid for setpriority. Needs root or CAP_SYS_NICE; without it the
 * thread runs at the default priority, only with less margin under load.
 *
 * Returns null when raised, else why not (for a debug line).
 */
export function raiseThreadPriority(nice: number): string | null {
  let tid: number;
  try {
    tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return 'no /proc/thread-self (not Linux)';
  }
  if (!Number.isInteger(tid) || tid <= 0) return 'no thread id';
  try {
    setPriority(tid, nice);
    return null;
  } catch (e) {
    return `${(e as Error).message} (needs CAP_SYS_NICE)`;
  }
}
