import { rmSync } from 'node:fs';
import { stopAll } from '../../bench/soak/children.js';
import { SWEEP_SETTLE_MS, type Phase } from '../../bench/soak/check-liveness.js';
import { request } from '../../bench/soak/client.js';
import { Findings, type Violation } from '../../bench/soak/findings.js';
import { Journal, type PaymentBody, type Sent } from '../../bench/soak/journal.js';
import { startLoad, type Load } from '../../bench/soak/load.js';
import { writePinPcaps } from '../../bench/soak/phones.js';
import { checkPgDatabase } from '../../bench/soak/pg-snapshot.js';
import { replayAcknowledged } from '../../bench/soak/replay.js';
import { Rng } from '../../bench/soak/rng.js';
import { prepareWorld, type World } from '../../bench/soak/setup.js';
import { errorText, within } from '../../bench/soak/util.js';
import { openPgPool, type PgPool } from '../../src/store/pg/db.js';
import { raceKey, readCheckoutEvents, type Race, type StreamSeen } from './cluster-probes.js';
import {
  callingCount, callsOwnedBy, clusterEnv, killNode, lastReason, nodeIdPattern, paymentsById, splitRtpRange, startNode, stopNode,
  type CallRow, type ClusterNode,
} from './cluster.js';
import type { PgCluster } from './postgres.js';
import { CRASH_AFTER_APPROVAL } from './serve-process.js';
import { waitFor } from './wait.js';

/**
 * The two-node kill test's scenario (test/two-nodes.test.ts asserts on what it returns): two
 * `callpay serve` on one PostgreSQL database, the soak's merchant traffic on both, a checkout page's
 * events read on the node that did not place the call, one Idempotency-Key raced on both nodes, then
 * SIGKILLs of a seeded node at seeded moments (the first while it owns a call): the survivor must
 * resolve the dead node's calls once their leases run out, before the dead node is restarted. The
 * database is checked with the soak's invariants after every kill and at the end.
 */

export interface ClusterOptions {
  seed: number;
  kills: number;
  /** store.callLeaseSeconds of both nodes (the schema's minimum is 3). */
  callLeaseSeconds: number;
  /** The SIGKILL comes this long after the victim's last (re)start or the last kill (uniform, ms). */
  killAfterMs: { min: number; max: number };
  /** Each node's merchant traffic: workers (even = caller, odd = counter) and their longest pauses. */
  concurrency: number;
  pauseMs: { caller: number; counter: number };
  keep: boolean;
}

export interface Takeover {
  /** "kill 2", or "approval" for the node that died between a PIN approval and its charge. */
  kill: string;
  victimPid: number;
  /** The processes that were running when it died: one of them must have resolved its calls. */
  survivorPids: number[];
  /** The payment once resolved (the dead node held its call lease at the kill). */
  row: CallRow;
  reason: string | undefined;
  /** call_node now names a survivor's process. */
  bySurvivor: boolean;
}

export interface PhaseViolation extends Violation {
  phase: string;
}

export interface ClusterSummary {
  seed: number;
  kills: Array<{ victim: string; pid: number; atMs: number; callsOwned: number }>;
  takeovers: Takeover[];
  /** The payment whose node SIGKILLed itself right after recording the PIN approval, resolved. */
  approval: Takeover | undefined;
  races: Race[];
  /** Payments whose reference is each raced key, in the database. */
  racedRows: Map<string, number>;
  /** "A→B": the call placed by A, the page read on B. */
  progress: Map<string, StreamSeen>;
  journal: Journal['counters'];
  paymentsInDb: number;
  statuses: Record<string, number>;
  databaseChecks: number;
  checksPerformed: number;
  violations: PhaseViolation[];
  durationMs: number;
  dir: string | null;
}

type Slot = 'A' | 'B';
/** The slot of the fault-injecting node: it takes no traffic but one payment, and dies after its approval. */
const FAULTY = 2;
const SLOTS: readonly Slot[] = ['A', 'B'];
const other = (s: Slot): Slot => (s === 'A' ? 'B' : 'A');

export async function runCluster(cluster: PgCluster, o: ClusterOptions): Promise<ClusterSummary> {
  const started = Date.now();
  const rng = new Rng(o.seed);
  const journal = new Journal();
  const violations: PhaseViolation[] = [];
  const summary: Omit<ClusterSummary, 'journal' | 'paymentsInDb' | 'statuses' | 'durationMs' | 'dir' | 'violations'> = {
    seed: o.seed, kills: [], takeovers: [], approval: undefined, races: [], racedRows: new Map(), progress: new Map(), databaseChecks: 0, checksPerformed: 0,
  };
  let last = { payments: 0, statuses: {} as Record<string, number> };
  const record = (f: Findings) => {
    summary.checksPerformed += f.checked;
    for (const v of f.violations) violations.push({ ...v, phase: f.phase });
  };

  const db = await cluster.createDatabase('callpay_two_nodes');
  const env = clusterEnv(db, o.callLeaseSeconds);
  const world: World = await prepareWorld(env);
  const check = async (phase: Phase, label: string) => {
    const { findings, snapshot } = await checkPgDatabase(pool, world, journal, phase, label);
    summary.databaseChecks++;
    record(findings);
    const statuses: Record<string, number> = {};
    for (const p of snapshot.payments) statuses[p.status] = (statuses[p.status] ?? 0) + 1;
    last = { payments: snapshot.payments.length, statuses };
  };

  const nodes = new Map<Slot, ClusterNode>();
  const loads = new Map<Slot, Load>();
  /** The journal's run number of each slot's current traffic (one per node lifetime). */
  const runOf = new Map<Slot, number>();
  let run = 0;
  const pcaps = writePinPcaps(world.dir);
  const rtp = await splitRtpRange(3);
  const start = (slot: Slot, life: number) => startNode({ name: slot, life, dir: world.dir, env, pcaps, rtp: rtp[SLOTS.indexOf(slot)]! });
  /** Waits (bounded) until no payment in `ids` is in its call, then records who resolved each. */
  const resolved = async (kill: string, victim: ClusterNode, survivors: ClusterNode[], ids: string[]) => {
    await waitFor(`${survivors.map((n) => n.name).join(', ')} to resolve ${ids.length} calls of the dead node ${victim.name}`,
      async () => (await paymentsById(pool, ids)).every((r) => r.status !== 'calling'),
      { timeoutMs: o.callLeaseSeconds * 1000 + SWEEP_SETTLE_MS + 10_000, intervalMs: 100 });
    const theirs = survivors.map((n) => new RegExp(nodeIdPattern(n.pid)));
    const found: Takeover[] = [];
    for (const row of await paymentsById(pool, ids)) {
      found.push({
        kill, victimPid: victim.pid, survivorPids: survivors.map((n) => n.pid), row, reason: await lastReason(pool, row.id),
        bySurvivor: theirs.some((r) => r.test(row.call_node ?? '')),
      });
    }
    return found;
  };
  const traffic = (slot: Slot) => {
    const node = nodes.get(slot)!;
    runOf.set(slot, ++run);
    loads.set(slot, startLoad({
      base: node.base, world, journal, run, rng: rng.fork(`load ${slot} ${node.life}`), concurrency: o.concurrency,
      keyPrefix: `s${o.seed}-${slot}${node.life}`, pauseMs: o.pauseMs,
    }));
  };
  /** A node that exits without being killed is a finding; waiting on it is how the test spends a seeded while. */
  const unexpectedExit = () => Promise.race(SLOTS.map((s) => nodes.get(s)!.serve.exited.then((e) => `${s} exited by itself (code ${e.code}, signal ${e.signal})`)));

  // opened last: the finally below ends it
  const pool: PgPool = openPgPool({ url: db.url, max: 4 });
  try {
    const [a, b] = await Promise.all([start('A', 1), start('B', 1)]);
    nodes.set('A', a).set('B', b);

    // A checkout page on one node while the other places the call: its events cross by NOTIFY.
    const pin = world.consumers.filter((c) => c.role === 'pin');
    const payment = (key: string, merchant: number, login?: string): Sent<PaymentBody> => ({
      key, merchant, path: '/v1/payments',
      body: { amount: 20_000, reference: key, description: 'Two-node order', return_url: 'https://shop.example/two', ...(login ? { login_account: login } : {}) },
    });
    await Promise.all(SLOTS.map(async (placer, i) => {
      const sent = payment(`s${o.seed}-page-${placer}`, i, pin[i]!.login);
      const a = await request(nodes.get(placer)!.base, sent.path, { method: 'POST', apiKey: world.merchants[i]!.apiKey, idempotencyKey: sent.key, body: sent.body, signal: AbortSignal.timeout(15_000) });
      if (a.kind !== 'ok') throw new Error(`POST /v1/payments on ${placer}: ${JSON.stringify(a)}`);
      journal.ackPayment(sent, a.body, 0);
      const seen = await readCheckoutEvents(nodes.get(other(placer))!.base, String(a.body.checkout_url), ['ringing', 'answered'], 15_000);
      summary.progress.set(`${placer}→${other(placer)}`, seen);
    }));

    // One key, both nodes, the same moment: a payment waiting for its consumer, a call-less one, one with a call.
    const small = world.consumers.find((c) => c.role === 'small')!;
    const logins = [undefined, small.login, pin[2]!.login];
    for (let i = 0; i < 6; i++) {
      const sent = payment(`s${o.seed}-race-${i}`, i % 2, logins[i % logins.length]);
      const race = await raceKey([nodes.get('A')!.base, nodes.get('B')!.base], world.merchants[sent.merchant]!.apiKey, sent);
      summary.races.push(race);
      const first = race.answers[0];
      if (first?.kind === 'ok') journal.ackPayment(sent, first.body, 0);
    }

    for (const s of SLOTS) traffic(s);
    for (let k = 1; k <= o.kills; k++) {
      const plan = rng.fork(`kill ${k}`);
      const slot = plan.pick(SLOTS);
      const victim = nodes.get(slot)!;
      const survivor = nodes.get(other(slot))!;
      const died = await within(unexpectedExit(), plan.int(o.killAfterMs.min, o.killAfterMs.max), null);
      if (died) throw new Error(died);
      if (k === 1) {
        // the first kill lands while the victim owns a call: one just dialled, as soon as it shows
        await waitFor(`node ${slot} to own a call in progress`, async () => (await callsOwnedBy(pool, victim.pid)).length > 0, { timeoutMs: 30_000, intervalMs: 25 });
      }
      const killedAt = await killNode(victim);
      await loads.get(slot)!.stop();
      const orphans = await callsOwnedBy(pool, victim.pid);
      summary.kills.push({ victim: slot, pid: victim.pid, atMs: killedAt - started, callsOwned: orphans.length });
      await check({ kind: 'crash', killedAt, listeningSince: victim.readyAt }, `kill ${k}: ${slot} (pid ${victim.pid}) SIGKILLed`);

      // Only the survivor runs now: it must resolve the dead node's calls once their leases run out.
      summary.takeovers.push(...(await resolved(`kill ${k}`, victim, [survivor], orphans.map((r) => r.id))));
      await check({ kind: 'crash', killedAt: Date.now(), listeningSince: survivor.readyAt }, `kill ${k}: after ${survivor.name} took over`);

      nodes.set(slot, await start(slot, victim.life + 1));
      traffic(slot);
    }

    // A third node that SIGKILLs itself right after recording a PIN approval, before the charge: the
    // two others must charge that payment, once.
    const faulty = await startNode({ name: 'C', life: 1, dir: world.dir, env, pcaps, rtp: rtp[FAULTY]!, launcher: CRASH_AFTER_APPROVAL });
    const approved = payment(`s${o.seed}-approved-then-killed`, 0, pin[3]!.login);
    const answer = await request(faulty.base, approved.path, { method: 'POST', apiKey: world.merchants[0]!.apiKey, idempotencyKey: approved.key, body: approved.body, signal: AbortSignal.timeout(15_000) });
    if (answer.kind !== 'ok') throw new Error(`POST /v1/payments on C: ${JSON.stringify(answer)}`);
    journal.ackPayment(approved, answer.body, 0);
    const exit = await within(faulty.serve.exited, 30_000, null);
    if (exit?.signal !== 'SIGKILL') throw new Error(`node C did not kill itself after the approval (${JSON.stringify(exit)}):\n${faulty.serve.tail()}`);
    await faulty.phones.stop();
    [summary.approval] = await resolved('approval', faulty, SLOTS.map((s) => nodes.get(s)!), [String(answer.body.id)]);
    await check({ kind: 'crash', killedAt: Date.now(), listeningSince: faulty.readyAt }, 'after the approved payment of C was taken over');

    // The last traffic, then quiet: every call ends (its own node, or a sweeper), nothing stays open.
    const died = await within(unexpectedExit(), rng.fork('final').int(o.killAfterMs.min, o.killAfterMs.max), null);
    if (died) throw new Error(died);
    await Promise.all(SLOTS.map((s) => loads.get(s)!.stop()));
    await waitFor('every call to end', async () => (await callingCount(pool)) === 0, { timeoutMs: 45_000, intervalMs: 100 });
    await check({ kind: 'restarted', readyAt: Date.now() - SWEEP_SETTLE_MS }, 'quiet, both nodes running');
    const replays = new Findings('replays on the other node');
    for (const s of SLOTS) await replayAcknowledged(nodes.get(s)!.base, world, journal, runOf.get(other(s))!, rng.fork(`replay ${s}`), replays);
    record(replays);
    await Promise.all(SLOTS.map((s) => stopNode(nodes.get(s)!)));
    await check({ kind: 'stopped', stoppedAt: Date.now(), listeningSince: null }, 'after both nodes stopped');
    for (const r of summary.races) {
      const [row] = (await pool.query<{ n: number }>('SELECT count(*) AS n FROM payments WHERE reference = $1', [r.key])).rows;
      summary.racedRows.set(r.key, row?.n ?? 0);
    }
  } catch (e) {
    throw new Error(`${errorText(e)} (logs serve-A.log, serve-B.log kept in ${world.dir})`, { cause: e });
  } finally {
    await Promise.all([...loads.values()].map((l) => l.stop()));
    await stopAll();
    await pool.end();
  }

  if (journal.unexpected.length > 0) {
    const f = new Findings('traffic');
    for (const u of journal.unexpected) f.violate('no unexpected HTTP answer (5xx, or a 4xx the soak never provokes)', u);
    record(f);
  }
  const keep = o.keep || violations.length > 0;
  if (!keep) rmSync(world.dir, { recursive: true, force: true });
  return {
    ...summary,
    journal: { ...journal.counters },
    paymentsInDb: last.payments,
    statuses: last.statuses,
    violations,
    durationMs: Date.now() - started,
    dir: keep ? world.dir : null,
  };
}

/** One line for the test's output: the seed (to repeat a run) and the counts. */
export function summaryLine(s: ClusterSummary): string {
  const kills = s.kills.map((k) => `${k.victim}@${(k.atMs / 1000).toFixed(1)}s/${k.callsOwned} calls`).join(' ');
  const takeovers = [...s.takeovers, ...(s.approval ? [s.approval] : [])].map((t) => `${t.row.status}${t.row.failure_code ? `:${t.row.failure_code}` : ''}`).join(',');
  const progress = [...s.progress].map(([k, v]) => `${k} [${v.progress.join(' ')}]`).join('; ');
  return `two-nodes seed ${s.seed}: ${s.kills.length} SIGKILLs (${kills}); dead node's calls resolved by a survivor ${s.takeovers.filter((t) => t.bySurvivor).length}/${s.takeovers.length} + approved ${s.approval?.bySurvivor ?? false} (${takeovers}); ` +
    `acked ${s.journal.paymentsAcked} payments, ${s.journal.refundsAcked} refunds, ${s.journal.cancelsAcked} cancels, ${s.journal.lost} lost, ${s.journal.replaysChecked} replays; ` +
    `in db ${s.paymentsInDb} payments ${JSON.stringify(s.statuses)}; key races ${s.races.filter((r) => r.same).length}/${s.races.length} same; progress ${progress}; ` +
    `${s.databaseChecks} database checks, ${s.checksPerformed} facts, ${s.violations.length} violations; ${(s.durationMs / 1000).toFixed(1)} s${s.dir ? `; kept ${s.dir}` : ''}`;
}
