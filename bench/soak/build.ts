// A frozen build of the daemon for one soak: others may rebuild dist/ (every test run does) or edit
// src/ while a long soak runs, and every restart must start the same code. The copy lives in the
// git-ignored .tmp/ one level below the repository root, so the compiled files find config/,
// prompts/ and public/ at the same relative place (../../) and node_modules by the usual lookup.
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface FrozenBuild {
  dir: string;
  /** Its bin/callpay.js. */
  launcher: string;
  remove(): void;
}

export function freezeBuild(): FrozenBuild {
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, '.tmp', 'soak-app-'));
  const remove = () => {
    rmSync(dir, { recursive: true, force: true });
    try {
      rmdirSync(join(ROOT, '.tmp')); // only if nobody else keeps something there
    } catch { /* not empty */ }
  };
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist')], { cwd: ROOT, stdio: 'inherit', timeout: 180_000 });
    for (const d of ['bin', 'config', 'prompts', 'public']) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
    copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  } catch (e) {
    remove();
    throw e;
  }
  return { dir, launcher: join(dir, 'bin', 'callpay.js'), remove };
}
