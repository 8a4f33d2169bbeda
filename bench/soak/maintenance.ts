// The operator's part between runs, with the daemon running (the CLI writes to the same database):
// unlock consumers that wrong PINs locked, and top up the prepaid account kept nearly empty, so
// every run still has calls with wrong PINs and payments racing for the last of a balance. The CLI
// is the daemon's own build, as a child process: the working tree may change during a long soak.
import { execFile } from 'node:child_process';
import Database from 'better-sqlite3';
import { baseEnv } from './env.js';
import type { World } from './setup.js';

function operator(launcher: string, world: World, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [launcher, ...args], { cwd: world.dir, env: { PATH: process.env.PATH ?? '', ...baseEnv() }, timeout: 30_000 }, (err, _stdout, stderr) =>
      err ? reject(new Error(`callpay ${args.join(' ')}: ${err.message} ${stderr.trim()}`)) : resolve(),
    );
  });
}

export const TIGHT_TOPUP = '300';

export async function maintain(world: World, launcher: string): Promise<{ unlocked: number }> {
  const db = new Database(world.dbFile, { readonly: true, fileMustExist: true });
  let locked: Set<string>;
  try {
    db.pragma('busy_timeout = 5000');
    locked = new Set(db.prepare("SELECT id FROM consumers WHERE status = 'locked'").pluck().all() as string[]);
  } finally {
    db.close();
  }
  let unlocked = 0;
  for (const c of world.consumers) {
    if (locked.has(c.id)) {
      await operator(launcher, world, ['consumer', 'unlock', c.login]);
      unlocked++;
    }
  }
  for (const c of world.consumers.filter((x) => x.role === 'tight')) await operator(launcher, world, ['account', 'topup', c.accountId, '--amount', TIGHT_TOPUP]);
  return { unlocked };
}
