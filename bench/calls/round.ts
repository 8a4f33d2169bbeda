// One round: dial, hold, measure one window, hang up
import { readFileSync } from 'node:fs';
import { availableParallelism, setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import { createLogger } from '../../src/log.js';
import { createEmbeddedEngine } from '../../src/telephony/embedded.js';
import { startSipp } from '../../test/helpers/sipp.js';
import type { Args } from './args.js';
import { engines, sipps } from './cleanup.js';
import { CLIP, HOST, SIP_RECEIVE_BUFFER_BYTES, LOAD_WARMUP_MS, MARGIN_MS, MIN_WINDOW_MS, NUMBER, RTP_MAX, RTP_MIN, SETTLE_MS } from './config.js';
import { dialPaced } from './dialer.js';
import type { HttpLoad } from './http-load.js';
import { measureWindow, noWindow, type Measured } from './measure.js';
import { mediaTap } from './media-tap.js';
import { startSink, type Sink } from './sink.js';
import { machineBusyMs, procCpuMs, threadSched, udpDrops } from './proc-stats.js';
import { log, pct, sleep, within } from './util.js';

export interface Round extends Measured {
  label: string;
  attempted: number;
  answered: number;
  failures: Record<string, number>;
  firstFailure: string | null;
  dialRate: number;
  setupsPerS: number;
  setupP50: number;
  setupP99: number;
  setupMax: number;
  sippCode: number | null | 'running';
  /** SIP datagrams the kernel dropped (receive buffer full) on callpay's SIP socket (whole round) and on sipp's (until the window's end). */
  sipDrops: { callpay: number; sipp: number };
  /** Machine busy % and the part not ours while dialing (from the first INVITE until every dial settled). */
  dialPhase: { machinePct: number; othersPct: number };
  /** /proc/loadavg's 1-minute figure at the end of the window: others' work on this machine shows here. */
  loadAvg: string;
  playErrors: number;
  hangupErrors: number;
}

/** sinkBin: the compiled RTP sink (sink.ts), or null to let sipp's media port take the RTP unread (as with --rtp-echo on). */
export async function runRound(label: string, args: Args, withLoad: HttpLoad | null, sinkBin: string | null): Promise<Round> {
  const { calls: n, rate, holdS } = args;
  const roundLimitMs = (n / rate + holdS) * 1000 + 60_000;
  // The phones' RTP goes to the sink (kernel-timestamped, per stream); with --rtp-echo sipp must take it itself.
  const sink: Sink | null = sinkBin ? await startSink(sinkBin, roundLimitMs + 30_000) : null;
  // One warm-up call per media worker, so each has started and decoded the prompt before dialing.
  const warmups = args.mediaWorkers === 0 ? Math.min(4, availableParallelism()) : args.mediaWorkers;
  log(`${label}: starting sipp (one instance, -m ${n + warmups} -l ${n + warmups}: the calls and ${warmups} warm-up calls)${sink ? `, RTP to the sink on port ${sink.port}` : ''}`);
  const sipp = await startSipp({
    scenario: sink ? 'bench-answer-sink' : 'bench-answer', calls: n + warmups, timeoutMs: roundLimitMs, readyTimeoutMs: 10_000,
    vars: sink ? { sinkip: HOST, sinkport: String(sink.port) } : {},
    args: ['-l', String(n + warmups)],
    rtpEcho: args.rtpEcho,
  });
  sipps.push(sipp);
  // sipp plays a thousand phones that in reality are elsewhere; on this 2-core box it must not be
  // starved by the load generator and callpay's own raised threads (it then answers late and aborts
  // calls on a retransmitted INVITE): nice -5, as callpay's SIP thread.
  try { setPriority(sipp.pid, -5); } catch { log(`${label}: sipp's priority not raised (needs CAP_SYS_NICE)`); }

  mediaTap.arm();
  const threadsBefore = new Set(threadSched().keys()); // the engine's media worker thread is a new one
  const sippSipDrops0 = udpDrops(sipp.port);
  const engineLog = createLogger({ level: 'warn' });
  const engine = await createEmbeddedEngine({
    sip: {
      bindHost: HOST, bindPort: 0, outboundProxy: null, requestUri: `sip:{number}@${HOST}:${sipp.port}`,
      from: `sip:callpay@${HOST}`, displayName: 'callpay bench', username: null, password: null, ringTimeoutMs: 10_000,
      receiveBufferBytes: SIP_RECEIVE_BUFFER_BYTES,
    },
    rtp: { bindHost: HOST, portMin: RTP_MIN, portMax: RTP_MAX, inbandDtmf: args.inband, workers: args.mediaWorkers, realtimePriority: args.realtime },
    log: engineLog,
  });
  engines.push(engine);
  const sipDrops0 = udpDrops(engine.sipPort);

  // Warm-up calls, not counted, up at once so each media worker takes one: a long-running daemon's
  // engine has its media workers running and the prompt decoded; the first call of a fresh worker
  // would pay for both (≈ 150 ms under tsx).
  const warm = await Promise.all(Array.from({ length: warmups }, () => engine.dial({ number: NUMBER, log: engineLog })));
  const warmCalls = warm.map((w) => {
    if (w.kind !== 'answered') throw new Error(`${label}: a warm-up call was not answered: ${w.kind} ${w.sipStatus ?? ''} ${w.reason}`);
    return w.call;
  });
  const warmPlays = warmCalls.map((c) => c.play([CLIP]));
  await sleep(300);
  await Promise.all(warmCalls.map((c) => c.hangup()));
  await within(Promise.all(warmPlays), 5_000, null);

  if (withLoad) {
    log(`${label}: HTTP load on (${args.clients} clients), ${LOAD_WARMUP_MS} ms before dialing`);
    withLoad.gen.go(withLoad.url, withLoad.apiKey, args.clients);
    await sleep(LOAD_WARMUP_MS);
  }

  log(`${label}: dialing ${n} calls at ${rate}/s`);
  const rssBeforeDial = process.memoryUsage.rss();
  const dial0 = { busy: machineBusyMs(), cpu: process.cpuUsage(), sipp: procCpuMs(sipp.pid), load: withLoad ? procCpuMs(withLoad.gen.child.pid) : 0 };
  const t0 = performance.now();
  const calls = await dialPaced(engine, engineLog, n, rate, holdS, t0);
  const { tracks, settled, lifetimes, failures } = calls;
  const lastDial = tracks.at(-1)!.dialAt;
  await within(Promise.all(settled), 45_000, null);
  const dialPhase = (() => {
    const dt = performance.now() - t0;
    const cpu = process.cpuUsage(dial0.cpu);
    const ours = (cpu.user + cpu.system) / 1000 + (procCpuMs(sipp.pid) - dial0.sipp) +
      (withLoad ? procCpuMs(withLoad.gen.child.pid) - dial0.load : 0);
    const machine = machineBusyMs() - dial0.busy;
    return { machinePct: (machine / dt) * 100, othersPct: ((machine - ours) / dt) * 100 };
  })();
  const answeredTracks = tracks.filter((t) => t.answeredAt !== null);
  const answeredAts = answeredTracks.map((t) => t.answeredAt!);
  const setupMs = answeredTracks.map((t) => t.answeredAt! - t.dialAt);
  const firstAnswer = answeredAts.length ? Math.min(...answeredAts) : NaN;
  const lastAnswer = answeredAts.length ? Math.max(...answeredAts) : NaN;
  const firstDial = tracks[0]!.dialAt;
  log(`${label}: ${answeredTracks.length}/${n} answered; setup p50 ${pct(setupMs, 50).toFixed(1)} ms, p99 ${pct(setupMs, 99).toFixed(1)} ms`);

  // The window: every answered call is up from SETTLE_MS after the last answer until MARGIN_MS
  // before the first hang-up.
  const winStart = Math.max(performance.now(), lastAnswer) + SETTLE_MS;
  const winEnd = firstAnswer + holdS * 1000 - MARGIN_MS;
  const base = {
    label, attempted: n, answered: answeredTracks.length, failures,
    dialRate: n > 1 ? ((n - 1) * 1000) / (lastDial - firstDial) : NaN,
    // answered calls over the span from the first INVITE to the last answer, plus one dialing slot
    // (1/rate): exactly --rate when every setup takes no time; each ms of the last call's setup lowers it
    setupsPerS: (answeredTracks.length * 1000) / (lastAnswer - firstDial + 1000 / rate),
    setupP50: pct(setupMs, 50), setupP99: pct(setupMs, 99), setupMax: setupMs.length ? Math.max(...setupMs) : NaN,
  };
  let window: Measured;
  if (!(answeredTracks.length > 0) || winEnd - winStart < MIN_WINDOW_MS / 2) {
    calls.firstFailure ??= `no measurement window: calls answered too late (last answer ${((lastAnswer - firstDial) / 1000).toFixed(1)} s after the first dial)`;
    window = noWindow();
  } else {
    window = await measureWindow(label, sipp, sink, withLoad, answeredTracks, threadsBefore, rssBeforeDial, winStart, winEnd);
  }

  const loadAvg = (() => { try { return readFileSync('/proc/loadavg', 'utf8').split(' ')[0] ?? '-'; } catch { return '-'; } })();
  if (withLoad) {
    const done = await withLoad.gen.stop();
    log(`${label}: HTTP load off`);
    if (window.http) {
      if (done) Object.assign(window.http, { clientP50: done.p50, clientP99: done.p99, clientErrors: done.errors, firstError: done.firstError });
      else window.http.firstError = 'load generator did not report';
    }
  }

  const sippSipDrops = udpDrops(sipp.port) - sippSipDrops0; // now: sipp closes its socket when its last call ends
  log(`${label}: holding; calls hang up ${holdS} s after answering`);
  await within(Promise.all(lifetimes), holdS * 1000 + 30_000, null);
  const stillUp = tracks.filter((t) => t.answeredAt !== null && t.endedAt === null).length;
  if (stillUp) calls.firstFailure ??= `${stillUp} calls did not end after their hang-up`;
  const exit = await within(sipp.exited, 10_000, 'running' as const);
  const sippCode = exit === 'running' ? 'running' : exit.code;
  if (sippCode !== 0) calls.firstFailure ??= `sipp ${sippCode === 'running' ? 'still running after the last BYE' : `exited ${sippCode}`}:\n${sipp.logs().slice(0, 4000)}`;
  const sipDrops = { callpay: udpDrops(engine.sipPort) - sipDrops0, sipp: sippSipDrops };
  await engine.close();
  engines.splice(engines.indexOf(engine), 1);
  await sipp.stop();
  sipps.splice(sipps.indexOf(sipp), 1);
  await sink?.stop();
  const { firstFailure, playErrors, hangupErrors } = calls;
  return { ...base, ...window, firstFailure, sippCode, playErrors, hangupErrors, loadAvg, sipDrops, dialPhase };
}
