// One measurement window while every call of a round is up: RTP send intervals (the media worker's
// histogram, reset at the window start), CPU, busy shares, event-loop delay, HTTP requests served,
// and the scheduler's and the whole machine's view.
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { EngineStats } from '../../src/telephony/media/protocol.js';
import type { Sipp } from '../../test/helpers/sipp.js';
import { ELD_RESOLUTION_MS } from './config.js';
import type { CallTrack } from './dialer.js';
import type { HttpLoad } from './http-load.js';
import { mediaTap } from './media-tap.js';
import type { PhoneSide, Sink } from './sink.js';
import { machineBusyMs, procCpuMs, schedDelta, threadSched, udpDrops } from './proc-stats.js';
import { log, sleep } from './util.js';

/** What one measurement window yields. */
export interface Measured {
  windowS: number;
  sustained: number;
  cpuPerCallPct: number;
  processCpuPct: number;
  /** Busy share of a media worker (the mean over them), and how many there were. */
  workerBusyPct: number;
  mediaWorkers: number;
  mainBusyPct: number;
  send: EngineStats['sendIntervalMs'];
  resyncs: number;
  sessionsAtEnd: number;
  rtpSent: number;
  rtpAtPhone: number;
  eldP50: number;
  eldP99: number;
  eldMax: number;
  sippCpuPct: number;
  loadCpuPct: number;
  /** Busy CPU of the whole machine (% of one core; 2 cores = 200), and the part not ours. */
  machinePct: number;
  othersPct: number;
  /** Scheduler view of the media worker's thread and of the main thread (Linux schedstat). */
  mediaThread: ReturnType<typeof schedDelta>;
  /** The busiest other thread started with the engine: its SIP worker when it has one. */
  sipThread: ReturnType<typeof schedDelta>;
  /** What the phones heard (the RTP sink), or null without a sink. */
  phone: PhoneSide | null;
  /** Resident memory of this process grown since before dialing, per sustained call (bytes); the media worker's V8 heap now. */
  rssPerCallBytes: number;
  workerHeapBytes: number;
  mainThread: ReturnType<typeof schedDelta>;
  http: { rps: number; other: number; clientP50: number; clientP99: number; clientErrors: number; firstError: string | null } | null;
}

/** The result of a round that had no measurement window. */
export function noWindow(): Measured {
  return {
    windowS: 0, sustained: 0, cpuPerCallPct: NaN, processCpuPct: NaN, workerBusyPct: NaN, mediaWorkers: 0, mainBusyPct: NaN,
    send: { count: 0, p50: NaN, p99: NaN, max: NaN }, resyncs: 0, sessionsAtEnd: 0, rtpSent: 0, rtpAtPhone: NaN,
    eldP50: NaN, eldP99: NaN, eldMax: NaN, sippCpuPct: NaN, machinePct: NaN, othersPct: NaN,
    mediaThread: { cpuPct: NaN, waitMsPerS: NaN, waitUsPerRun: NaN }, mainThread: { cpuPct: NaN, waitMsPerS: NaN, waitUsPerRun: NaN }, loadCpuPct: NaN, http: null,
    sipThread: { cpuPct: NaN, waitMsPerS: NaN, waitUsPerRun: NaN }, phone: null, rssPerCallBytes: NaN, workerHeapBytes: NaN,
  };
}

/**
 * Waits until winStart, measures until winEnd. threadsBefore: this process's threads before the
 * round's engine started (its media worker thread, and its SIP worker thread if any, are new ones).
 * rssBeforeDial: this process's resident memory before the round's calls were dialed.
 */
export async function measureWindow(label: string, sipp: Sipp, sink: Sink | null, withLoad: HttpLoad | null, answeredTracks: CallTrack[],
  threadsBefore: Set<number>, rssBeforeDial: number, winStart: number, winEnd: number): Promise<Measured> {
  await sleep(winStart - performance.now());
  log(`${label}: window ${((winEnd - performance.now()) / 1000).toFixed(1)} s`);
  const workers = mediaTap.workers();
  const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  await mediaTap.stats(true); // the interval histogram starts empty now
  sink?.reset(); // and so do the phones' streams
  const s0 = await mediaTap.stats(false);
  eld.enable();
  const w0: EventLoopUtilization[] = workers.map((w) => w.performance.eventLoopUtilization());
  const m0 = performance.eventLoopUtilization();
  const c0 = process.cpuUsage();
  const sipp0 = procCpuMs(sipp.pid);
  const sink0 = procCpuMs(sink?.pid);
  const load0 = withLoad ? procCpuMs(withLoad.gen.child.pid) : NaN;
  const drops0 = udpDrops(sipp.mediaPort);
  const http0 = withLoad ? { ...withLoad.counter } : null;
  const th0 = threadSched();
  const busy0 = machineBusyMs();
  const t1 = performance.now();
  await sleep(winEnd - performance.now());
  const s1 = await mediaTap.stats(false);
  const phone = sink ? await sink.report() : null;
  const sink1 = procCpuMs(sink?.pid);
  const rss = process.memoryUsage.rss();
  // With sipp's -rtp_echo the worker also receives (and, with in-band DTMF on, analyses) the echo.
  log(`${label}: RTP received by the media worker in the window: ${s1.received - s0.received}, digits ${s1.digits - s0.digits}`);
  const t2 = performance.now();
  const th1 = threadSched();
  const busy1 = machineBusyMs();
  const dt = t2 - t1;
  // The threads started with this engine, busiest first: the media worker (it names its thread id;
  // else it is the busiest) and the SIP worker when the engine has one (far less busy while calls are up).
  const fresh = [...th1].filter(([tid]) => !threadsBefore.has(tid) && th0.has(tid))
    .map(([tid, y]) => ({ tid, cpuNs: y.cpuNs - th0.get(tid)!.cpuNs })).sort((a, b) => b.cpuNs - a.cpuNs);
  // With several media workers: the first one's thread stands for them (they carry equal shares).
  const mediaTids = (s1.threadIds ?? []).filter((tid) => th1.has(tid));
  const mediaTid = mediaTids[0] ?? fresh[0]?.tid;
  const sipTid = fresh.find((t) => t.tid !== mediaTid && !mediaTids.includes(t.tid))?.tid;
  const cpu = process.cpuUsage(c0);
  // busy share per media worker, averaged over the workers
  const wBusy = workers.reduce((a, w, i) => a + w.performance.eventLoopUtilization(w0[i]).utilization, 0) / workers.length;
  const mElu = performance.eventLoopUtilization(m0);
  eld.disable();
  // sustained: answered before the window and still up at its end
  const sustained = answeredTracks.filter((t) => t.answeredAt! <= t1 && (t.endedAt === null || t.endedAt >= t2)).length;
  const cpuPct = ((cpu.user + cpu.system) / 1000 / dt) * 100;
  const sippCpuPct = ((procCpuMs(sipp.pid) - sipp0) / dt) * 100;
  const loadCpuPct = withLoad ? ((procCpuMs(withLoad.gen.child.pid) - load0) / dt) * 100 : NaN;
  const machinePct = ((busy1 - busy0) / dt) * 100;
  const sinkCpuPct = ((sink1 - sink0) / dt) * 100;
  if (phone) phone.sinkCpuPct = sinkCpuPct;
  return {
    machinePct,
    // everything busy on the machine that is not this process, the load generator or sipp: other
    // people's processes, and kernel work (softirq) not charged to any of them
    othersPct: machinePct - cpuPct - sippCpuPct - (withLoad ? loadCpuPct : 0) - (sink ? sinkCpuPct : 0),
    windowS: dt / 1000,
    sustained,
    cpuPerCallPct: cpuPct / Math.max(1, sustained),
    processCpuPct: cpuPct,
    workerBusyPct: wBusy * 100,
    mediaWorkers: workers.length,
    mainBusyPct: mElu.utilization * 100,
    send: s1.sendIntervalMs,
    resyncs: s1.resyncs - s0.resyncs,
    sessionsAtEnd: s1.sessions,
    rtpSent: s1.sent - s0.sent,
    rtpAtPhone: phone ? phone.packets : udpDrops(sipp.mediaPort) - drops0, // at sipp's port: unread, dropped by the kernel
    eldP50: eld.percentile(50) / 1e6,
    eldP99: eld.percentile(99) / 1e6,
    eldMax: eld.max / 1e6,
    mediaThread: schedDelta(th0, th1, mediaTid, dt),
    sipThread: schedDelta(th0, th1, sipTid, dt),
    phone,
    rssPerCallBytes: (rss - rssBeforeDial) / Math.max(1, sustained),
    workerHeapBytes: s1.heapUsedBytes ?? NaN,
    mainThread: schedDelta(th0, th1, process.pid, dt),
    sippCpuPct,
    loadCpuPct,
    http: withLoad && http0 ? {
      rps: ((withLoad.counter.ok - http0.ok) * 1000) / dt, other: withLoad.counter.other - http0.other,
      clientP50: NaN, clientP99: NaN, clientErrors: 0, firstError: null,
    } : null,
  };
}
