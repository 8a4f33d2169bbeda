// Command-line arguments of the soak.
import { randomSeed } from './rng.js';
import { BIN } from './serve.js';
import type { SoakOptions } from './soak.js';

const USAGE = 'usage: npx tsx bench/soak/main.ts [--runs N (30)] [--seed S (random)] [--concurrency C (6)] ' +
  '[--kill-min-ms 300] [--kill-max-ms 8000] [--startup-kill-percent 15] [--keep] [--no-build]';

export interface Args extends SoakOptions {
  build: boolean;
}

function usage(msg: string): never {
  console.error(`bench/soak/main.ts: ${msg}\n${USAGE}`);
  process.exit(2);
}

export function parseArgs(argv: string[]): Args {
  const out: Args = {
    runs: 30, seed: randomSeed(), concurrency: 6, killAfterMs: { min: 300, max: 8000 }, startupKillChance: 0.15, keep: false, build: true, launcher: BIN,
  };
  const ints: Record<string, [number, number, (n: number) => void]> = {
    runs: [1, 100_000, (n) => (out.runs = n)],
    seed: [1, 0x7fffffff, (n) => (out.seed = n)],
    concurrency: [1, 64, (n) => (out.concurrency = n)],
    'kill-min-ms': [0, 600_000, (n) => (out.killAfterMs.min = n)],
    'kill-max-ms': [0, 600_000, (n) => (out.killAfterMs.max = n)],
    'startup-kill-percent': [0, 100, (n) => (out.startupKillChance = n / 100)],
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? '';
    const name = flag.replace(/^--/, '');
    if (flag === '--keep') out.keep = true;
    else if (flag === '--no-build') out.build = false;
    else if (flag === '--help' || flag === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (flag.startsWith('--') && name in ints) {
      const raw = argv[++i];
      const [min, max, set] = ints[name]!;
      if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) usage(`${flag} takes an integer in ${min}..${max}, got ${JSON.stringify(raw ?? '')}`);
      set(Number(raw));
    } else usage(`unknown option ${JSON.stringify(flag)}`);
  }
  if (out.killAfterMs.min > out.killAfterMs.max) usage('--kill-min-ms is above --kill-max-ms');
  return out;
}
