import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDatabase } from '../bench/soak/checks.js';
import type { Phase } from '../bench/soak/check-liveness.js';
import type { Journal } from '../bench/soak/journal.js';
import { report } from '../bench/soak/report.js';
import type { World } from '../bench/soak/setup.js';
import { BIN } from '../bench/soak/serve.js';
import { runSoak, type SoakOptions, type SoakSummary } from '../bench/soak/soak.js';
import { setQuiet } from '../bench/soak/util.js';

/**
 * A short soak (bench/soak): `callpay serve` with the embedded SIP engine and sipp phones under
 * concurrent payments and refunds, SIGKILLed 4 times at seeded random moments (sometimes again
 * during start-up), restarted, and the database checked after every kill and every restart.
 * The long run is `npx tsx bench/soak/main.ts --runs N` (BENCHMARKS.md). SOAK_SEED repeats a run.
 * Then the same checks are run on tampered copies of the soak's database, to show that they bite.
 */
describe('soak: SIGKILL at random moments', () => {
  const options: SoakOptions = {
    runs: 4,
    seed: Number(process.env.SOAK_SEED ?? 20261130),
    concurrency: 4,
    killAfterMs: { min: 1000, max: 6000 },
    startupKillChance: 0.5,
    keep: false,
    launcher: BIN, // dist/, as test/global-setup.ts just built it
  };
  let summary: SoakSummary;
  let text = '';
  /** Each tamper, applied to its own copy of the final database: the invariants that must catch it. */
  const caught = new Map<string, string[]>();
  const copies = mkdtempSync(join(tmpdir(), 'callpay-soak-tamper-'));

  beforeAll(async () => {
    setQuiet(true);
    summary = await runSoak({ ...options, inspect: (world, journal) => tamperAll(world, journal) });
    text = report(options, summary);
  }, 150_000);
  afterAll(() => rmSync(copies, { recursive: true, force: true }));

  it('keeps the ledger and payment invariants over 4 kills, acknowledged writes included', () => {
    expect(summary.violations, text).toEqual([]);
    expect(summary.kills, text).toBeGreaterThanOrEqual(4);
    expect(summary.journal.paymentsAcked, text).toBeGreaterThan(20);
    expect(summary.journal.refundsAcked, text).toBeGreaterThan(0);
    expect(summary.callOutcomes.answered ?? 0, text).toBeGreaterThan(0);
    expect(summary.journal.replaysChecked, text).toBeGreaterThan(0);
  });

  it.each([
    ['a merchant balance off by one', ['ledger balance = sum of its entries', 'double entry: posted debits = posted credits']],
    ['a second charge of a charged payment', ['no payment charged twice', 'charged status ⇔ one posted charge']],
    ['a released hold un-released', ['no open hold on a terminal payment']],
    ['an acknowledged payment altered', ['acknowledged payment as created', 'hold and charge = the payment amount']],
    ['an acknowledged refund gone', ['acknowledged refund present', 'amount refunded = refunds = refund entries']],
    ['a payment left in its call after the restart', ['no payment left in its call after a restart']],
    ['a payment open past its expiry', ['nothing open past expiry once the sweeper ran']],
  ])('the checks catch %s', (name, invariants) => {
    expect(caught.get(name), text).toEqual(expect.arrayContaining(invariants));
  });

  function tamperAll(world: World, journal: Journal): void {
    const tamper = (name: string, sql: (db: Database.Database) => void, phase: Phase = { kind: 'restarted', readyAt: Date.now() - 120_000 }) => {
      const file = join(copies, `${caught.size}.db`);
      copyFileSync(world.dbFile, file);
      if (existsSync(`${world.dbFile}-wal`)) copyFileSync(`${world.dbFile}-wal`, `${file}-wal`);
      const db = new Database(file);
      try {
        db.pragma('foreign_keys = OFF');
        sql(db);
      } finally {
        db.close();
      }
      const { findings } = checkDatabase({ ...world, dbFile: file }, journal, phase, name);
      caught.set(name, findings.violations.map((v) => v.invariant));
    };
    const one = (db: Database.Database, sql: string) => db.prepare(sql).pluck().get() as string;
    const ackedRefund = [...journal.refunds.values()][0];
    const ackedPayment = [...journal.payments.values()].find((p) => p.status === 'succeeded');

    tamper('a merchant balance off by one', (db) => db.exec("UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE id = (SELECT id FROM ledger_accounts WHERE code = 'merchant' LIMIT 1)"));
    tamper('a second charge of a charged payment', (db) => {
      const post = db.prepare("SELECT * FROM transfers WHERE kind = 'post' LIMIT 1").get() as Record<string, unknown>;
      db.exec('DROP INDEX transfers_one_resolution');
      db.prepare(`INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, currency, pending_id, payment_id, cycle, created_at)
        VALUES ('tr_tampered', 'post', @debit_account_id, @credit_account_id, @amount, @currency, @pending_id, @payment_id, @cycle, @created_at)`).run(post);
      // the balances follow, so only the double charge itself is wrong
      db.prepare('UPDATE ledger_accounts SET debits_posted = debits_posted + ? WHERE id = ?').run(post.amount, post.debit_account_id);
      db.prepare('UPDATE ledger_accounts SET credits_posted = credits_posted + ? WHERE id = ?').run(post.amount, post.credit_account_id);
    });
    tamper('a released hold un-released', (db) => {
      const voided = one(db, "SELECT id FROM transfers WHERE kind = 'void' LIMIT 1");
      db.exec('DROP TRIGGER transfers_append_only_d');
      db.prepare('DELETE FROM transfers WHERE id = ?').run(voided);
    });
    tamper('an acknowledged payment altered', (db) => db.prepare('UPDATE payments SET amount = amount + 1 WHERE id = ?').run(ackedPayment?.id));
    tamper('an acknowledged refund gone', (db) => {
      db.exec('DROP TRIGGER transfers_append_only_d');
      db.prepare('DELETE FROM transfers WHERE refund_id = ?').run(ackedRefund?.id);
      db.prepare('DELETE FROM refunds WHERE id = ?').run(ackedRefund?.id);
    });
    tamper('a payment left in its call after the restart', (db) => {
      const charged = one(db, "SELECT id FROM payments WHERE status = 'failed' LIMIT 1");
      db.prepare("UPDATE payments SET status = 'calling' WHERE id = ?").run(charged);
    });
    tamper('a payment open past its expiry', (db) => {
      const done = one(db, "SELECT id FROM payments WHERE status = 'canceled' OR status = 'requires_consumer' LIMIT 1");
      db.prepare("UPDATE payments SET status = 'requires_consumer', expires_at = '2000-01-01T00:00:00.000Z' WHERE id = ?").run(done);
    });
  }
});
