// Simultaneous calls on the embedded call engine (issue 4, "Acceptance: bench/calls").
// Run: npx tsx bench/calls/main.ts [--calls 300] [--rate 100] [--hold-s 20] [--clients 32] [--media-workers 0]
//
// One process (this one) runs, like `callpay serve` would:
//   - the embedded engine (createEmbeddedEngine: SIP signalling in its SIP worker thread, RTP paced in its
//     media workers: --media-workers, by default one per CPU, at most 4, as `callpay serve`),
//   - the daemon (startDaemon: HTTP intake, SQLite, sweeper) on 127.0.0.1, port 0, in a temp dir made
//     by the CLI (`callpay init`, `merchant add`), with telephony.engine=simulated for its own payments.
// One sipp (sip/bench-answer-sink.xml, `-m N+W -l N+W`, W warm-up calls: one per media worker) plays all the phones: it answers every INVITE
// with an SDP answer whose media address is the RTP sink's, and waits for callpay's BYE. The sink
// (bench/calls/rtp-sink.c, built with `cc -O2` at start; exit 2 without a C compiler) receives every
// call's RTP on one loopback port with kernel timestamps: the phone-side inter-arrival p50/p99/max and
// the loss from RTP sequence numbers, per stream, in the window. With --rtp-echo on, sipp takes the RTP
// itself (sip/bench-answer.xml, its media port) to echo it, and there is no phone-side measurement.
// Two rounds, each with its own sipp and sink and a fresh engine warmed by one uncounted call:
//   1. "calls only":        dial --calls at --rate per second, every answered call plays the enter-pin
//                           prompt in a loop and is hung up --hold-s after it answered; one measurement
//                           window while every call is up.
//   2. "calls + HTTP load": the same, while a child process (this file, role "load") keeps --clients
//                           concurrent POST /v1/payments going against the daemon in THIS process, so
//                           SIP, HTTP and SQLite share the main thread while the worker paces the RTP.
// In each window: RTP send intervals (the media worker's histogram, reset at the window start), the
// phone-side inter-arrival and loss, memory per call (RSS growth since before dialing, and the media
// worker's heap), CPU of this process (all threads) per call, busy share of the media worker and of the main thread, the main
// thread's event-loop delay, HTTP requests served; to explain misses, the scheduler's view (Linux
// schedstat: how long the media and main threads waited for a CPU) and how busy the whole machine was
// beyond this bench. sipp and the load child are stopped by PID, the temp dir removed, also on error,
// Ctrl-C or when the overall time limit hits. Loopback only. Exit 1 when a call is not answered or
// drops early; missed targets are reported, not failed.
import { cpus } from 'node:os';
import { parseArgs } from './args.js';
import { cleanup } from './cleanup.js';
import { CLIP, LOAD_WARMUP_MS, ROOT, RTP_MAX, RTP_MIN } from './config.js';
import { startIntake } from './daemon.js';
import { loadChild, spawnLoadGen } from './http-load.js';
import { details, phoneTable, table, verdicts } from './report.js';
import { runRound, type Round } from './round.js';
import { buildSink } from './sink.js';
import { log } from './util.js';

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const roundMs = (args.calls / args.rate + args.holdS) * 1000 + 60_000 + LOAD_WARMUP_MS;
  const overallMs = 2 * roundMs + 90_000;
  const overall = setTimeout(() => {
    log(`overall limit of ${Math.round(overallMs / 1000)} s reached: stopping`);
    void cleanup().finally(() => process.exit(1));
  }, overallMs);
  try {
    console.log(`node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), ${args.calls} calls at ${args.rate}/s, ` +
      `hold ${args.holdS} s, ${args.clients} HTTP clients, inband DTMF ${args.inband}, rtp_echo ${args.rtpEcho ? 'on' : 'off'}, media workers ${args.mediaWorkers || 'auto'}, SCHED_FIFO ${args.realtime || 'off'}, prompt ${CLIP.slice(ROOT.length)} looped, RTP ports ${RTP_MIN}-${RTP_MAX}`);
    const sinkBin = args.rtpEcho ? null : buildSink(); // exits 2 without a C compiler
    log('preparing the daemon (callpay init, merchant add) and the load generator');
    const intake = await startIntake();
    const gen = await spawnLoadGen(overallMs);
    const rows: Round[] = [];
    rows.push(await runRound('calls only', args, null, sinkBin));
    rows.push(await runRound('calls + HTTP load', args, { gen, url: intake.url, apiKey: intake.apiKey, counter: intake.counter }, sinkBin));

    console.log('');
    console.log(table(rows));
    console.log('');
    console.log(details(rows));
    console.log('');
    if (rows.some((r) => r.phone)) {
      console.log(phoneTable(rows));
      console.log('');
    }
    for (const v of verdicts(args, rows)) console.log(v);
    let bad = false;
    for (const r of rows) {
      const problems: string[] = [];
      if (r.answered < r.attempted) problems.push(`${r.attempted - r.answered} not answered (${JSON.stringify(r.failures)})`);
      if (r.sustained < r.answered) problems.push(`${r.answered - r.sustained} answered calls not up for the whole window`);
      if (r.playErrors || r.hangupErrors) problems.push(`${r.playErrors} play errors, ${r.hangupErrors} hang-up errors`);
      if (r.http && (r.http.other || r.http.clientErrors)) problems.push(`HTTP: ${r.http.other} non-201 served, ${r.http.clientErrors} client errors; first: ${r.http.firstError}`);
      if (r.firstFailure) problems.push(`first problem: ${r.firstFailure}`);
      if (problems.length) {
        bad = true;
        console.log(`${r.label}: ${problems.join('; ')}`);
      }
    }
    return bad ? 1 : 0;
  } finally {
    clearTimeout(overall);
  }
}

// spawnLoadGen (http-load.ts) re-runs this file with BENCH_CALLS_ROLE=load as the load generator child
if (process.env.BENCH_CALLS_ROLE === 'load') {
  await loadChild();
} else {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => void cleanup().finally(() => process.exit(130)));
  }
  let code = 1;
  try {
    code = await main();
  } catch (e) {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    code = 1;
  } finally {
    await cleanup();
  }
  process.exit(code);
}
