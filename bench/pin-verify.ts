// PIN verification off the event loop (issue 2): worker pool vs the same work on the main thread.
// Run: npx tsx bench/pin-verify.ts [--workers N] [--count N]
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Keyring } from '../src/crypto/keyring.js';
import { createSecretHasher } from '../src/crypto/secret-hasher.js';
import { loadSodium } from '../src/crypto/sodium.js';

const P99_TARGET_MS = 15;

function parseArgs(argv: string[]): { workers: number; count: number } {
  const out = { workers: 1, count: 50 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, raw] = [argv[i], argv[i + 1]];
    if ((flag !== '--workers' && flag !== '--count') || raw === undefined || !/^[1-9]\d{0,3}$/.test(raw)) {
      console.error('usage: pin-verify.ts [--workers N] [--count N]   (N: integer 1..9999)');
      process.exit(2);
    }
    out[flag === '--workers' ? 'workers' : 'count'] = Number(raw);
  }
  return out;
}

interface Row { label: string; wallMs: number; p50: number; p99: number; max: number; ok: boolean }

/** Runs `work` while sampling event-loop delay; a timer keeps the loop ticking so stalls show up. */
async function measure(label: string, count: number, work: () => Promise<boolean[]>): Promise<Row> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const start = performance.now();
  const results = await work();
  const wallMs = performance.now() - start;
  h.disable();
  const ms = (ns: number) => ns / 1e6;
  return {
    label, wallMs, ok: results.length === count && results.every(Boolean),
    p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max),
  };
}

const { workers, count } = parseArgs(process.argv.slice(2));
const params = { opsLimit: 2, memLimitKiB: 19456, workers };
const keyring = await Keyring.fromMasterKey(new Uint8Array(randomBytes(32)));
const hasher = createSecretHasher(keyring, params);
const stored = await hasher.hash('482916');
await hasher.verify('482916', stored); // warm: workers started and WASM loaded before measuring

const pool = await measure(`worker pool (${workers})`, count, () =>
  Promise.all(Array.from({ length: count }, () => hasher.verify('482916', stored))),
);
await hasher.close();

const sodium = await loadSodium();
const pepper = keyring.pepper('482916');
const main = await measure('on main thread', count, async () => {
  const results: boolean[] = [];
  // Yield between verifies, as a server would between requests; each verify still blocks the loop.
  for (let i = 0; i < count; i++) {
    results.push(sodium.crypto_pwhash_str_verify(stored, pepper));
    await new Promise((r) => setImmediate(r));
  }
  return results;
});

const f = (n: number) => n.toFixed(1).padStart(8);
console.log(`node ${process.version}, opsLimit ${params.opsLimit}, memLimit ${params.memLimitKiB} KiB\n`);
console.log('mode                 verifies  wall ms  verif/s  loop p50  loop p99  loop max');
for (const r of [pool, main]) {
  console.log(`${r.label.padEnd(20)} ${String(count).padStart(8)} ${f(r.wallMs)} ${f((count * 1000) / r.wallMs)}` +
    ` ${f(r.p50)}  ${f(r.p99)}  ${f(r.max)}${r.ok ? '' : '  WRONG RESULTS'}`);
}
console.log(`\nevent-loop p99: main thread / worker pool = ${(main.p99 / pool.p99).toFixed(1)}x; ` +
  `target worker pool p99 < ${P99_TARGET_MS} ms: ${pool.p99 < P99_TARGET_MS ? 'met' : 'MISSED'}`);
process.exitCode = pool.p99 < P99_TARGET_MS && pool.ok && main.ok ? 0 : 1;
