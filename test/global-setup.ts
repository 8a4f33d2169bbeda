import { execFileSync } from 'node:child_process';

/** Tests that start `bin/callpay.js` as a real process need dist/ to match src/. */
export default function setup(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit', timeout: 120_000 });
}
