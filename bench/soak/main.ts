// Soak / fault injection (issue 10): `callpay serve` with the embedded SIP engine and sipp phones,
// under concurrent payments and refunds, SIGKILLed at random moments and restarted; after every
// kill and every restart the database is checked against the ledger's and the payments' invariants.
//
// Run: npx tsx bench/soak/main.ts [--runs 30] [--seed S] [--concurrency 6] [--keep] [--no-build]
// The daemon is a frozen build made at start (build.ts); --no-build runs the working tree's dist/.
// Prints the seed first (same seed = same kill moments and same actions per worker; the interleaving
// with the daemon's own timing is not reproducible), then the counts; exits 1 on any violation.
// Loopback only; sipp must run as root (pcap play). Every child is stopped by its PID on the way out,
// also on error, Ctrl-C or the overall time limit.
import { parseArgs } from './args.js';
import { freezeBuild, type FrozenBuild } from './build.js';
import { stopAll } from './children.js';
import { report } from './report.js';
import { runSoak } from './soak.js';
import { errorText, log } from './util.js';

let build: FrozenBuild | undefined;
/** Every child by PID, then the frozen build. */
const cleanup = () => stopAll().finally(() => build?.remove());

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  console.log(`soak seed ${args.seed} (repeat with --seed ${args.seed})`);
  if (args.build) {
    log('building a frozen copy of the daemon (npx tsc -p tsconfig.build.json into .tmp/soak-app-*)');
    build = freezeBuild();
    args.launcher = build.launcher;
  }
  // every step is bounded; this bounds the whole (a run takes 5-15 s here, 60 s is far out)
  const limitMs = args.runs * 60_000 + 120_000;
  const overall = setTimeout(() => {
    console.error(`soak: overall limit of ${Math.round(limitMs / 1000)} s reached; stopping`);
    void cleanup().finally(() => process.exit(1));
  }, limitMs);
  overall.unref();
  try {
    const summary = await runSoak(args);
    console.log(report(args, summary));
    return summary.violations.length > 0 ? 1 : 0;
  } finally {
    clearTimeout(overall);
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`soak: ${sig}; stopping every child by PID`);
    void cleanup().finally(() => process.exit(130));
  });
}

main()
  .then((code) => cleanup().then(() => process.exit(code)))
  .catch((e: unknown) => {
    console.error(`soak: ${errorText(e)}`);
    void cleanup().finally(() => process.exit(1));
  });
