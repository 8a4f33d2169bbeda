// The two-node kill scenario of test/two-nodes.test.ts (issue 14), repeated: two `callpay serve` on one
// PostgreSQL database under the soak's traffic, a seeded node SIGKILLed at seeded moments (the first
// while it owns a call), a third node that dies between a PIN approval and its charge, one
// Idempotency-Key raced on both nodes, the soak's invariants after every kill and at the end. The
// scenario itself is test/helpers/cluster-run.ts (not repeated here); this only loops it.
//
// Run: npx tsx bench/two-nodes.ts [--runs N (5)] [--seed S (random)] [--kills K (3)] [--keep] [--no-build]
// Run i (from 0) uses seed S + i and a fresh database in one throw-away PostgreSQL 15 cluster
// (test/helpers/postgres.ts: fsync off). `--runs 1 --seed S+i` repeats one. The nodes run dist/,
// rebuilt first (--no-build: as it is). Prints each run's summary line, then the totals; exits 1 on any
// violation or failed run. Every child is stopped by its PID on the way out, also on error or Ctrl-C.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stopAll } from './soak/children.js';
import { randomSeed } from './soak/rng.js';
import { errorText, setQuiet } from './soak/util.js';
import { runCluster, summaryLine, type ClusterOptions, type ClusterSummary } from '../test/helpers/cluster-run.js';
import { startPostgres, type PgCluster } from '../test/helpers/postgres.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const USAGE = 'usage: npx tsx bench/two-nodes.ts [--runs 1..10000] [--seed 1..2147483647] [--kills 1..50] [--keep] [--no-build]';

interface Args { runs: number; seed: number; kills: number; keep: boolean; build: boolean }

function parseArgs(argv: string[]): Args {
  const out: Args = { runs: 5, seed: randomSeed(), kills: 3, keep: false, build: true };
  const ints: Record<string, [number, number, (n: number) => void]> = {
    runs: [1, 10_000, (n) => (out.runs = n)],
    seed: [1, 0x7fffffff, (n) => (out.seed = n)],
    kills: [1, 50, (n) => (out.kills = n)],
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? '';
    const spec = ints[flag.replace(/^--/, '')];
    if (flag === '--keep') out.keep = true;
    else if (flag === '--no-build') out.build = false;
    else if (flag.startsWith('--') && spec) {
      const raw = argv[++i];
      const [min, max, set] = spec;
      if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
        console.error(`${flag} takes an integer in ${min}..${max}\n${USAGE}`);
        process.exit(2);
      }
      set(Number(raw));
    } else {
      console.error(`unknown option ${JSON.stringify(flag)}\n${USAGE}`);
      process.exit(2);
    }
  }
  if (out.seed + out.runs - 1 > 0x7fffffff) out.seed = 0x7fffffff - out.runs + 1;
  return out;
}

/** The test's settings (test/two-nodes.test.ts), but for the seed, the kills and --keep. */
function optionsFor(seed: number, a: Args): ClusterOptions {
  return {
    seed, kills: a.kills, callLeaseSeconds: 3, killAfterMs: { min: 1000, max: 4000 }, concurrency: 2,
    pauseMs: { caller: 300, counter: 400 }, keep: a.keep,
  };
}

interface Totals {
  runs: number; failed: number; kills: number; callsOwned: number; takeovers: number; bySurvivor: number; approvals: number;
  approvalsBySurvivor: number; paymentsAcked: number; refundsAcked: number; paymentsInDb: number; races: number; racesSame: number;
  racedRowsNotOne: number; databaseChecks: number; facts: number; violations: number; seconds: number;
}

function add(t: Totals, s: ClusterSummary): void {
  t.runs++;
  t.kills += s.kills.length;
  t.callsOwned += s.kills.reduce((n, k) => n + k.callsOwned, 0);
  t.takeovers += s.takeovers.length;
  t.bySurvivor += s.takeovers.filter((x) => x.bySurvivor).length;
  t.approvals += s.approval ? 1 : 0;
  t.approvalsBySurvivor += s.approval?.bySurvivor ? 1 : 0;
  t.paymentsAcked += s.journal.paymentsAcked;
  t.refundsAcked += s.journal.refundsAcked;
  t.paymentsInDb += s.paymentsInDb;
  t.races += s.races.length;
  t.racesSame += s.races.filter((r) => r.same).length;
  t.racedRowsNotOne += [...s.racedRows.values()].filter((n) => Number(n) !== 1).length;
  t.databaseChecks += s.databaseChecks;
  t.facts += s.checksPerformed;
  t.violations += s.violations.length;
  t.seconds += s.durationMs / 1000;
}

let cluster: PgCluster | undefined;
let cleaning: Promise<void> | undefined;
const cleanup = () => (cleaning ??= stopAll().finally(() => cluster?.stop()));
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`two-nodes: ${sig}; stopping every child by PID`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  console.log(`two-nodes seeds ${args.seed}..${args.seed + args.runs - 1} (run i repeats with --runs 1 --seed ${args.seed}+i), ${args.kills} kills a run`);
  // the nodes run bin/callpay.js on dist/: rebuilt so it matches src/ (as test/global-setup.ts does)
  if (args.build) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit', timeout: 180_000 });
  setQuiet(true);
  const started = Date.now();
  cluster = await startPostgres();
  const t: Totals = {
    runs: 0, failed: 0, kills: 0, callsOwned: 0, takeovers: 0, bySurvivor: 0, approvals: 0, approvalsBySurvivor: 0, paymentsAcked: 0,
    refundsAcked: 0, paymentsInDb: 0, races: 0, racesSame: 0, racedRowsNotOne: 0, databaseChecks: 0, facts: 0, violations: 0, seconds: 0,
  };
  for (let i = 0; i < args.runs; i++) {
    const seed = args.seed + i;
    try {
      const s = await runCluster(cluster, optionsFor(seed, args));
      add(t, s);
      console.log(`run ${i + 1}/${args.runs}: ${summaryLine(s)}`);
      for (const v of s.violations) console.log(`  VIOLATION ${v.phase}: ${v.invariant} ×${v.count}, e.g. ${v.examples.slice(0, 2).join(' | ')}`);
    } catch (e) {
      // a run that could not finish (a node that did not start, a wait that timed out) is a failure, not a pass
      t.failed++;
      console.log(`run ${i + 1}/${args.runs}: two-nodes seed ${seed}: FAILED: ${errorText(e)}`);
      await stopAll();
    }
  }
  const takeovers = `${t.bySurvivor}/${t.takeovers} calls of a killed node resolved by the survivor (${t.callsOwned} owned at the kills), ` +
    `${t.approvalsBySurvivor}/${t.approvals} approved-then-killed payments charged by a survivor`;
  console.log(`\ntotal: ${t.runs} runs finished, ${t.failed} failed; ${t.kills} SIGKILLs; ${takeovers}; ` +
    `${t.paymentsAcked} payments and ${t.refundsAcked} refunds acknowledged, ${t.paymentsInDb} payments in the databases; ` +
    `key races ${t.racesSame}/${t.races} same answer (${t.racedRowsNotOne} keys without exactly one payment); ` +
    `${t.databaseChecks} database checks, ${t.facts} facts, ${t.violations} violations; ` +
    `${t.seconds.toFixed(0)} s in runs, ${((Date.now() - started) / 1000).toFixed(0)} s wall after the build`);
  const lostTakeovers = t.takeovers - t.bySurvivor + (t.approvals - t.approvalsBySurvivor);
  return t.violations > 0 || t.failed > 0 || lostTakeovers > 0 || t.racedRowsNotOne > 0 ? 1 : 0;
}

main()
  .then((code) => cleanup().then(() => process.exit(code)))
  .catch((e: unknown) => {
    console.error(`two-nodes: ${errorText(e)}`);
    void cleanup().finally(() => process.exit(1));
  });
