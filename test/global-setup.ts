import { spawnSync } from 'node:child_process';

/**
 * Tests that start `bin/callpay.js` as a real process need dist/ to match src/. tsc emits even when
 * it reports type errors; those are the type check's business (`npx tsc --noEmit` in the test
 * command, which fails the run), so here they are shown and the tests still run.
 */
export default function setup(): void {
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit', timeout: 120_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) console.warn(`global setup: tsc -p tsconfig.build.json exited ${r.status}; dist/ was emitted anyway`);
}
