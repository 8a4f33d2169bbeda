// The soak: one world (database, merchants, consumers), then `runs` times: merchants' traffic with
// real calls against `callpay serve` → SIGKILL at a seeded random moment → check the crashed database
// → restart (sometimes killed again during start-up) → wait for the sweeper → check again → replay
// acknowledged Idempotency-Keys. A graceful stop and a last check end it.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { freeRtpPortRange } from '../../test/helpers/rtp-phone.js';
import type { Sipp } from '../../test/helpers/sipp.js';
import { stopAll } from './children.js';
import { checkDatabase } from './checks.js';
import { SWEEP_SETTLE_MS, type Phase } from './check-liveness.js';
import { optionalEnv, serveEnv } from './env.js';
import { Findings, type Violation } from './findings.js';
import { Journal } from './journal.js';
import { startLoad } from './load.js';
import { maintain } from './maintenance.js';
import { startPhones, writePinPcaps, type PhonePcaps } from './phones.js';
import { replayAcknowledged } from './replay.js';
import { Rng } from './rng.js';
import { spawnServe, type Serve } from './serve.js';
import { prepareWorld, type World } from './setup.js';
import type { Snapshot } from './snapshot.js';
import { waitForSweep } from './sweep-wait.js';
import { errorText, log, sleep, within } from './util.js';

export interface SoakOptions {
  runs: number;
  seed: number;
  concurrency: number;
  /** The SIGKILL comes this long after the daemon is ready (uniform, ms). */
  killAfterMs: { min: number; max: number };
  /** Chance that a restart is itself killed during start-up (recovery), before it listens. */
  startupKillChance: number;
  /** Keep the temp directory (database, logs) even when nothing was found. */
  keep: boolean;
  /** `bin/callpay.js`, or the launcher of a frozen build (build.ts). */
  launcher: string;
  /** Called after the last check, before the temp directory goes: lets a test look at the world. */
  inspect?: (world: World, journal: Journal) => void | Promise<void>;
}

export interface PhaseViolation extends Violation {
  phase: string;
}

export interface SoakSummary {
  seed: number;
  runs: number;
  kills: number;
  startupKills: number;
  /** Restarts that failed because a module could not be loaded (someone changing node_modules meanwhile): retried. */
  environmentFailures: number;
  durationMs: number;
  journal: Journal['counters'];
  /** From the last snapshot. */
  paymentsInDb: number;
  statuses: Record<string, number>;
  refundsInDb: number;
  callOutcomes: Record<string, number>;
  checksPerformed: number;
  databaseChecks: number;
  violations: PhaseViolation[];
  unexpectedAnswers: string[];
  /** Kept when something was found (or asked for); else removed. */
  dir: string | null;
}

/** Where the time between two runs goes, for the progress line. */
class Stopwatch {
  private at = Date.now();
  private readonly laps: string[] = [];

  lap(name: string): void {
    const now = Date.now();
    this.laps.push(`${name} ${((now - this.at) / 1000).toFixed(2)}`);
    this.at = now;
  }

  toString(): string {
    return `s: ${this.laps.join(', ')}`;
  }
}

/** How long a phone's sipp may live: one daemon lifetime (load + checks), with a wide margin. */
const PHONE_LIFETIME_MS = 600_000;

export async function runSoak(o: SoakOptions): Promise<SoakSummary> {
  const started = Date.now();
  const rng = new Rng(o.seed);
  const journal = new Journal();
  const violations: PhaseViolation[] = [];
  let checksPerformed = 0;
  let databaseChecks = 0;
  let kills = 0;
  let startupKills = 0;
  let environmentFailures = 0;
  let last: Snapshot | undefined;

  const record = (f: Findings) => {
    checksPerformed += f.checked;
    for (const v of f.violations) {
      violations.push({ ...v, phase: f.phase });
      log(`VIOLATION (${f.phase}) ${v.invariant}: ${v.count}× e.g. ${v.examples[0]}`);
    }
  };
  const check = (phase: Phase, label: string) => {
    const { findings, snapshot } = checkDatabase(world, journal, phase, label);
    databaseChecks++;
    last = snapshot;
    record(findings);
  };

  log(`seed ${o.seed}: preparing the world (callpay init, merchants, consumers)`);
  const world: World = await prepareWorld();
  const logFile = join(world.dir, 'serve.log');
  const pcaps: PhonePcaps = writePinPcaps(world.dir);
  let phones: Sipp | undefined;
  let serve: Serve | undefined;
  try {
    phones = await startPhones(pcaps, PHONE_LIFETIME_MS);
    serve = await startDaemon(world, o.launcher, phones, logFile, 'initial start', null);
    if (serve.readyAt === null) throw new Error(`callpay serve did not start:\n${serve.tail()}`);
    let startupMs = serve.readyAt - serve.spawnedAt;
    for (let run = 1; run <= o.runs; run++) {
      const plan = rng.fork(`run ${run}`);
      const url = await serve.ready;
      if (!url) throw new Error('the daemon is not listening');
      const load = startLoad({ base: url, world, journal, run, rng: plan.fork('load'), concurrency: o.concurrency, keyPrefix: `s${o.seed}` });
      const killAfter = plan.int(o.killAfterMs.min, o.killAfterMs.max);
      const died = await within(serve.exited, killAfter, null);
      if (died) {
        const f = new Findings(`run ${run}`);
        f.violate('the daemon runs until it is killed', `exited by itself (code ${died.code}, signal ${died.signal}):\n${serve.tail()}`);
        record(f);
      }
      const killedAt = Date.now();
      const took = new Stopwatch();
      if (serve.kill('SIGKILL')) kills++;
      await load.stop();
      if ((await within(serve.exited, 10_000, 'late')) === 'late') throw new Error('callpay serve did not die within 10 s of SIGKILL');
      await phones.stop();
      took.lap('stop');
      check({ kind: 'crash', killedAt, listeningSince: serve.readyAt }, `run ${run} after SIGKILL at ${killAfter} ms`);
      took.lap('check');

      // restart; a few restarts are themselves killed before they listen (during recovery)
      phones = await startPhones(pcaps, PHONE_LIFETIME_MS);
      for (let attempt = 1; ; attempt++) {
        // a seeded fraction of the last start-up time: module loading, opening the database, or the
        // recovery of the payments the last kill interrupted
        const killDuringStart = attempt <= 2 && plan.chance(o.startupKillChance) ? Math.floor(plan.next() * startupMs) : null;
        serve = await startDaemon(world, o.launcher, phones, logFile, `run ${run} restart ${attempt}`, killDuringStart);
        if (serve.readyAt !== null) {
          startupMs = serve.readyAt - serve.spawnedAt;
          break;
        }
        const exit = await serve.exited;
        if (exit.signal === 'SIGKILL' && killDuringStart !== null) {
          kills++;
          startupKills++;
          check({ kind: 'crash', killedAt: Date.now(), listeningSince: null }, `run ${run} killed during start-up at ${killDuringStart} ms`);
          continue;
        }
        // it failed to start by itself: a finding, unless node_modules changed under us (npm install)
        if (/ERR_MODULE_NOT_FOUND/.test(serve.tail())) {
          environmentFailures++;
          log(`run ${run}: callpay serve could not load a module (node_modules changing under the soak?); retrying`);
        } else {
          const f = new Findings(`run ${run} restart`);
          f.violate('the daemon starts again after a kill', `exit code ${exit.code}, signal ${exit.signal}:\n${serve.tail()}`);
          record(f);
        }
        if (attempt >= 5) throw new Error(`callpay serve did not start again after ${attempt} attempts:\n${serve.tail()}`);
        await sleep(2000);
      }
      const readyAt = serve.readyAt!;
      took.lap('restart');
      await waitForSweep(world.dbFile, readyAt, SWEEP_SETTLE_MS);
      took.lap('sweep');
      check({ kind: 'restarted', readyAt }, `run ${run} after restart`);
      took.lap('check');
      const replays = new Findings(`run ${run} replays`);
      await replayAcknowledged((await serve.ready)!, world, journal, run, plan.fork('replay'), replays);
      record(replays);
      took.lap('replay');
      const { unlocked } = await maintain(world, o.launcher);
      took.lap('operator');
      log(`run ${run}/${o.runs}: killed ${killAfter} ms after ready; acknowledged so far ${journal.counters.paymentsAcked} payments, ${journal.counters.refundsAcked} refunds; ` +
        `${journal.lostPayments.length + journal.lostRefunds.length} in doubt${unlocked ? `; unlocked ${unlocked}` : ''}; violations ${violations.length} [${took}]`);
    }

    // the end: SIGTERM under the same traffic; the daemon drains its calls before it exits
    const plan = rng.fork('final');
    const url = await serve.ready;
    const load = startLoad({ base: url!, world, journal, run: o.runs + 1, rng: plan.fork('load'), concurrency: o.concurrency, keyPrefix: `s${o.seed}` });
    await within(serve.exited, plan.int(o.killAfterMs.min, o.killAfterMs.max), null);
    const stoppedBy = serve.kill('SIGTERM');
    const graceful = stoppedBy && (await within(serve.exited, 30_000, 'late')) !== 'late';
    await load.stop();
    if (!graceful) {
      serve.kill('SIGKILL');
      await within(serve.exited, 10_000, 'late');
      log('the graceful stop took over 30 s (or the daemon was gone): SIGKILLed');
    }
    await phones.stop();
    check(graceful ? { kind: 'stopped', stoppedAt: Date.now(), listeningSince: serve.readyAt } : { kind: 'crash', killedAt: Date.now(), listeningSince: null }, 'after the final stop');
  } catch (e) {
    throw new Error(`${errorText(e)} (database and serve.log kept in ${world.dir})`, { cause: e });
  } finally {
    await stopAll();
  }

  if (journal.unexpected.length > 0) {
    const f = new Findings('traffic');
    for (const u of journal.unexpected) f.violate('no unexpected HTTP answer (5xx, or a 4xx the soak never provokes)', u);
    record(f);
  }
  const keep = o.keep || violations.length > 0;
  try {
    await o.inspect?.(world, journal);
  } finally {
    if (!keep) rmSync(world.dir, { recursive: true, force: true });
  }
  const tally = (pairs: Array<[string, number]>) => Object.fromEntries(pairs.sort((a, b) => b[1] - a[1]));
  const statuses = new Map<string, number>();
  for (const p of last?.payments ?? []) statuses.set(p.status, (statuses.get(p.status) ?? 0) + 1);
  return {
    seed: o.seed,
    runs: o.runs,
    kills,
    startupKills,
    environmentFailures,
    durationMs: Date.now() - started,
    journal: { ...journal.counters },
    paymentsInDb: last?.payments.length ?? 0,
    statuses: tally([...statuses]),
    refundsInDb: last?.refunds.length ?? 0,
    callOutcomes: tally((last?.callOutcomes ?? []).map((r) => [r.outcome, r.n])),
    checksPerformed,
    databaseChecks,
    violations,
    unexpectedAnswers: journal.unexpected,
    dir: keep ? world.dir : null,
  };
}

/**
 * Starts `callpay serve` (`launcher`) against these phones on fresh RTP ports. With `killAfterMs` it
 * is SIGKILLed that long after the spawn if it is not listening yet. Returns once it listens or is
 * gone (`readyAt` null); throws only if it neither listens nor exits in time.
 */
async function startDaemon(world: World, launcher: string, phones: Sipp, logFile: string, label: string, killAfterMs: number | null): Promise<Serve> {
  const rtp = await freeRtpPortRange(64);
  const serve = spawnServe(launcher, world.dir, serveEnv({ phones: phones.hostPort, rtp, optional: optionalEnv(launcher) }), logFile, label);
  let timer: NodeJS.Timeout | undefined;
  if (killAfterMs !== null) timer = setTimeout(() => serve.readyAt === null && serve.kill('SIGKILL'), killAfterMs);
  try {
    if ((await serve.ready) === null) await serve.exited;
  } finally {
    clearTimeout(timer);
  }
  return serve;
}
