import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, startWorld, type TestWorld } from './helpers/daemon.js';
import { dumpDatabase } from './helpers/cli.js';
import { startServe } from './helpers/serve-process.js';

/** The CLI from source as a process of its own: a backup or restore runs beside the daemon, not inside it. */
const LAUNCHER = fileURLToPath(new URL('./helpers/callpay-src.ts', import.meta.url));
const TSX = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function callpay(cwd: string, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, LAUNCHER, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', CALLPAY_ARGON2_WORKERS: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Summary {
  file?: string;
  schema_version: number;
  tables: { payments: number; attempt_limits: number } & Record<string, number>;
  ledger: { accounts: number; transfers: number; balanced: boolean; checksum: string };
}

/** The test's own ledger check, independent of the code under test. */
function checkDatabase(file: string): { payments: number; succeeded: number } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.pragma('foreign_key_check')).toEqual([]);
    const drift = db
      .prepare(
        `SELECT a.id,
           a.debits_posted - (SELECT coalesce(sum(amount), 0) FROM transfers WHERE debit_account_id = a.id AND kind IN ('topup', 'post', 'refund')) AS dp,
           a.credits_posted - (SELECT coalesce(sum(amount), 0) FROM transfers WHERE credit_account_id = a.id AND kind IN ('topup', 'post', 'refund')) AS cp,
           a.debits_pending - (SELECT coalesce(sum(h.amount), 0) FROM transfers h WHERE h.debit_account_id = a.id AND h.kind = 'hold'
                                 AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = h.id)) AS dq
         FROM ledger_accounts a`,
      )
      .all() as Array<{ id: string; dp: number; cp: number; dq: number }>;
    for (const d of drift) expect(d, d.id).toMatchObject({ dp: 0, cp: 0, dq: 0 });
    const sums = db.prepare('SELECT sum(debits_posted) AS d, sum(credits_posted) AS c FROM ledger_accounts').get() as { d: number; c: number };
    expect(sums.d).toBe(sums.c);
    // A payment is charged exactly when it has succeeded: the charge and the transition commit together.
    const unpaired = db
      .prepare(
        `SELECT count(*) FROM payments p WHERE (p.status = 'succeeded') <>
           EXISTS (SELECT 1 FROM transfers t WHERE t.payment_id = p.id AND t.kind = 'post')`,
      )
      .pluck()
      .get();
    expect(unpaired).toBe(0);
    return {
      payments: db.prepare('SELECT count(*) FROM payments').pluck().get() as number,
      succeeded: db.prepare("SELECT count(*) FROM payments WHERE status = 'succeeded'").pluck().get() as number,
    };
  } finally {
    db.close();
  }
}

describe('callpay backup and restore', () => {
  let w: TestWorld;
  let stopped = false;
  const payments = () => w.db.prepare('SELECT count(*) FROM payments').pluck().get() as number;
  const backupFile = (n: number) => join(w.dir, `backup-${n}.db`);
  const summaries = new Map<number, Summary>();

  beforeAll(async () => {
    w = await startWorld({ CALLPAY_RATE_LIMIT_BURST: '100000' });
    await enrolPrepaid(w, 'alice', '1000000');
    // Bulk, so that copying takes a while: rows of a table the daemon does not read here.
    // Dated now: the sweeper prunes old ones.
    const add = w.db.prepare("INSERT INTO attempt_limits (scope, key_hash, created_at) VALUES ('bulk', ?, ?)");
    const now = new Date().toISOString();
    w.db.transaction(() => {
      for (let i = 0; i < 60_000; i++) add.run(randomBytes(32), now);
    })();
  }, 60_000);

  afterAll(async () => {
    if (!stopped) await w.close();
    else rmSync(w.dir, { recursive: true, force: true });
  });

  it('takes consistent backups (mode 0600) while payments are being charged', async () => {
    let writing = true;
    let n = 0;
    const writer = (async () => {
      while (writing) {
        w.engine.script.push({ kind: 'approved' });
        const r = await w.api('POST', '/v1/payments', {
          body: { amount: 100 + (n % 50), currency: 'TWD', reference: `b-${n}`, description: 'Tea', return_url: 'https://shop.example/', login_account: 'alice' },
          idem: `backup-${n++}`,
        });
        expect(r.status).toBe(201);
      }
    })();
    try {
      for (const i of [1, 2, 3]) {
        const before = payments();
        const r = await callpay(w.dir, ['backup', '--out', backupFile(i), '--json']);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        const after = payments();
        const summary = JSON.parse(r.stdout) as Summary;
        // The daemon kept serving while the backup process ran, and the copy is a snapshot from within that run.
        expect(after).toBeGreaterThan(before);
        expect(summary.tables.payments).toBeGreaterThanOrEqual(before);
        expect(summary.tables.payments).toBeLessThanOrEqual(after);
        expect(summary.ledger.balanced).toBe(true);
        summaries.set(i, summary);
        expect(statSync(backupFile(i)).mode & 0o777).toBe(0o600);
        const state = checkDatabase(backupFile(i));
        expect(state.payments).toBe(summary.tables.payments);
        expect(summary.tables.attempt_limits).toBeGreaterThanOrEqual(60_000);
      }
    } finally {
      writing = false;
      await writer;
    }
    // Let the last calls finish: every payment ends charged.
    // (Bounded like finalOf: on a loaded machine the last scripted calls can take a few seconds to end.)
    await eventually(() => expect(w.db.prepare("SELECT count(*) FROM payments WHERE status = 'calling'").pluck().get()).toBe(0), 30_000);
    // No temp file left next to the backups.
    expect(readdirSync(w.dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  }, 180_000);

  it('refuses to overwrite a backup without --force, replaces it with --force', async () => {
    const target = join(w.dir, 'again.db');
    writeFileSync(target, 'keep me');
    const refused = await w.cli(['backup', '--out', target]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^callpay: out: .*\[already_exists\]\n$/);
    expect(statSync(target).size).toBe(7);
    const forced = await w.cli(['backup', '--out', target, '--force', '--json']);
    expect(forced.code).toBe(0);
    expect(statSync(target).mode & 0o777).toBe(0o600);
    checkDatabase(target);
    const self = await w.cli(['backup', '--out', join(w.dir, 'callpay.db'), '--force']);
    expect(self.stderr).toContain('[invalid_field]');
  });

  it('refuses a restore while the daemon has the database open, with nothing changed', async () => {
    const before = dumpDatabase(join(w.dir, 'callpay.db'));
    const r = await callpay(w.dir, ['restore', '--from', backupFile(1), '--force']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[database_in_use\]\n$/);
    expect(dumpDatabase(join(w.dir, 'callpay.db'))).toBe(before);
    expect(readdirSync(w.dir).filter((f) => f.includes('before-restore') || f.includes('.tmp'))).toEqual([]);
  });

  it('refuses a backup sealed under another key, a file that is not a callpay database, and one from a newer build', async () => {
    const before = dumpDatabase(join(w.dir, 'callpay.db'));
    const otherKey = randomBytes(32).toString('hex');
    const wrongKey = await callpay(w.dir, ['restore', '--from', backupFile(1), '--force'], { CALLPAY_MASTER_KEY: otherKey });
    expect([wrongKey.code, wrongKey.stderr.trim().split('\n').length]).toEqual([1, 1]);
    expect(wrongKey.stderr).toMatch(/^callpay: from: .*\[key_invalid\]\n$/);
    expect(dumpDatabase(join(w.dir, 'callpay.db'))).toBe(before);

    const junk = join(w.dir, 'junk.db');
    writeFileSync(junk, 'not a database at all, just text\n'.repeat(200));
    expect((await w.cli(['restore', '--from', junk, '--force'])).stderr).toMatch(/\[backup_invalid\]\n$/);
    const foreign = join(w.dir, 'foreign.db');
    const f = new Database(foreign);
    f.exec('CREATE TABLE notes (x TEXT)');
    f.close();
    expect((await w.cli(['restore', '--from', foreign, '--force'])).stderr).toMatch(/not a callpay database.*\[backup_invalid\]\n$/);
    const newer = join(w.dir, 'newer.db');
    expect((await w.cli(['backup', '--out', newer])).code).toBe(0);
    const n = new Database(newer);
    n.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, ?, ?)').run('from the future', new Date().toISOString());
    n.close();
    expect((await w.cli(['restore', '--from', newer, '--force'])).stderr).toMatch(/migration 999.*\[backup_too_new\]\n$/);
    expect((await w.cli(['restore', '--from', join(w.dir, 'missing.db'), '--force'])).stderr).toMatch(/\[not_found\]\n$/);
    expect(readdirSync(w.dir).filter((f) => f.includes('before-restore') || f.includes('.tmp'))).toEqual([]);
  });

  it('with the daemon stopped: restores (the old database kept), and a fresh `callpay serve` opens it', async () => {
    await w.daemon.stop();
    w.db.close();
    await w.ctx.close();
    stopped = true;
    const database = join(w.dir, 'callpay.db');
    const withoutForce = await callpay(w.dir, ['restore', '--from', backupFile(2)]);
    expect(withoutForce.stderr).toMatch(/\[already_exists\]\n$/);

    const backupSummary = JSON.parse((await callpay(w.dir, ['backup', '--out', join(w.dir, 'check.db'), '--json'])).stdout) as Summary;
    const r = await callpay(w.dir, ['restore', '--from', backupFile(2), '--force', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const restored = JSON.parse(r.stdout) as Summary & { kept_as: string; database: string };
    expect(restored.database).toBe(database);
    expect(restored.kept_as).toMatch(/callpay\.db\.before-restore-\d{8}T\d{6}Z$/);
    expect(statSync(database).mode & 0o777).toBe(0o600);
    // One file: no journal of the old database left beside the new one (checked before this test opens it).
    expect(readdirSync(w.dir).filter((f) => f.includes('.tmp') || f.startsWith('callpay.db-'))).toEqual([]);
    // The previous database, intact and complete, under its new name.
    expect(checkDatabase(restored.kept_as).payments).toBe(backupSummary.tables.payments);
    const state = checkDatabase(database);
    expect(state.payments).toBe(restored.tables.payments);
    expect(state.payments).toBeLessThan(backupSummary.tables.payments);
    expect(restored.ledger.balanced).toBe(true);
    // The same ledger, to the checksum, and the same rows as when the backup was taken.
    expect(restored.ledger).toEqual(summaries.get(2)?.ledger);
    expect(restored.tables.payments).toBe(summaries.get(2)?.tables.payments);

    const serve = await startServe(w.dir, { CALLPAY_TELEPHONY_ENGINE: 'simulated', CALLPAY_ARGON2_WORKERS: '1', NODE_OPTIONS: `--import ${TSX}` }, 30_000, LAUNCHER);
    try {
      const list = await fetch(`${serve.url}/v1/payments?limit=100`, { headers: { authorization: `Bearer ${w.apiKey}` }, signal: AbortSignal.timeout(10_000) });
      expect(list.status).toBe(200);
      const body = (await list.json()) as { data: Array<{ status: string }> };
      expect(body.data.length).toBeGreaterThan(0);
    } finally {
      expect((await serve.stop('SIGTERM')).code).toBe(0);
    }
    // The restored database again, after the daemon's own start and stop.
    checkDatabase(database);
  }, 120_000);
});
