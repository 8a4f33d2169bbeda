// Concurrent ledger holds on PostgreSQL from two "nodes" (two pg pools), issue 14: how the row lock on
// the consumer's ledger account (what src/store/pg/ledger.ts does) compares with SERIALIZABLE + retry
// (the same statements with a plain SELECT, the whole transaction retried on 40001), and that neither
// overdraws. Each round fires every hold at once, half on each pool, on prepaid accounts whose balance
// covers about half of them; then checks the ledger: no account below zero, sums = transfers.
// Run: npx tsx bench/pg-holds.ts [--holds N] [--pool N] [--accounts N] [--rounds N] [--url postgres://…]
// Without --url it starts a throw-away PostgreSQL 15 cluster (test/helpers/postgres.ts) and stops it after.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Keyring } from '../src/crypto/keyring.js';
import { openPgPool, queryOne, withPgTransaction, type PgPool, type PgQueryable } from '../src/store/pg/db.js';
import { applyPgMigrations } from '../src/store/pg/migrations.js';
import type { PgRepoDeps } from '../src/store/pg/deps.js';
import { PgLedger, availableOf, type AvailableInputs } from '../src/store/pg/ledger.js';
import { PgAccountRepository } from '../src/store/pg/accounts.js';
import { newId } from '../src/domain/ids.js';
import type { HoldRequest, HoldResult } from '../src/domain/ledger.js';
import { startPostgres, type PgCluster } from '../test/helpers/postgres.js';

interface Args { holds: number; pool: number; accounts: number; rounds: number; url?: string }

function parseArgs(argv: string[]): Args {
  const out: Args = { holds: 2000, pool: 8, accounts: 1, rounds: 3 };
  const limits: Record<string, number> = { holds: 100_000, pool: 90, accounts: 10_000, rounds: 9 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]?.replace(/^--/, '') ?? '';
    const raw = argv[i + 1];
    if (name === 'url' && raw) {
      out.url = raw;
      continue;
    }
    const limit = limits[name];
    if (limit === undefined || raw === undefined || !/^[1-9]\d*$/.test(raw) || Number(raw) > limit) {
      throw new Error(`usage: pg-holds.ts [--holds 1..100000] [--pool 1..90] [--accounts 1..10000] [--rounds 1..9] [--url postgres://…] (bad ${argv[i]} ${raw ?? ''})`);
    }
    (out as unknown as Record<string, number>)[name] = Number(raw);
  }
  return out;
}

const AMOUNT = 100;
const cycleOf = (d: Date) => d.toISOString().slice(0, 7);

type Hold = (pool: PgPool, req: HoldRequest) => Promise<HoldResult>;

/** SERIALIZABLE + retry: the ledger's statements without the row lock; PostgreSQL aborts the loser of each conflict. */
function serializableHold(d: PgRepoDeps, attempts: { n: number }): Hold {
  return (pool, req) =>
    withPgTransaction(pool, async (tx) => {
      attempts.n++;
      const existing = await queryOne<{ id: string }>(tx, "SELECT id FROM transfers WHERE payment_id = $1 AND kind = 'hold'", [req.paymentId]);
      if (existing) return { ok: true, transferId: existing.id };
      const acct = await queryOne<AvailableInputs & { id: string }>(
        tx,
        `SELECT l.id, b.plan, b.credit_limit, l.credits_posted, l.debits_posted, l.debits_pending, 0::bigint AS cycle_usage
         FROM ledger_accounts l JOIN billable_accounts b ON b.id = l.billable_account_id WHERE l.billable_account_id = $1`,
        [req.billableAccountId],
      );
      if (!acct) throw new Error('no account');
      const available = availableOf(acct);
      if (available < req.amount) return { ok: false, code: 'insufficient_funds', available };
      const merchant = await queryOne<{ id: string }>(tx, "SELECT id FROM ledger_accounts WHERE code = 'merchant' AND merchant_id = $1 AND currency = $2", [req.merchantId, req.currency]);
      const id = newId('tr');
      await tx.query(
        `INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, currency, payment_id, cycle, created_at)
         VALUES ($1, 'hold', $2, $3, $4, $5, $6, $7, $8)`,
        [id, acct.id, merchant!.id, req.amount, req.currency, req.paymentId, cycleOf(d.clock()), d.clock().toISOString()],
      );
      await tx.query('UPDATE ledger_accounts SET debits_pending = debits_pending + $1 WHERE id = $2', [req.amount, acct.id]);
      await tx.query('UPDATE ledger_accounts SET credits_pending = credits_pending + $1 WHERE id = $2', [req.amount, merchant!.id]);
      return { ok: true, transferId: id };
    }, { isolation: 'serializable', maxAttempts: 100, backoffMs: 2 });
}

interface Variant { name: string; hold: Hold; attempts?: { n: number } }

function variants(d: PgRepoDeps): Variant[] {
  const attempts = { n: 0 };
  return [
    { name: 'row lock (FOR NO KEY UPDATE), own transaction', hold: (pool, req) => new PgLedger(pool, d).hold(req) },
    {
      name: 'row lock, inside a caller transaction (savepoint)',
      hold: (pool, req) => withPgTransaction(pool, (tx) => new PgLedger(tx, d).hold(req)),
    },
    { name: 'SERIALIZABLE + retry, no lock', hold: serializableHold(d, attempts), attempts },
  ];
}

/** A merchant, `accounts` prepaid accounts each topped up for half the holds they will get, and a payment row per hold. */
async function setUp(pool: PgPool, d: PgRepoDeps, args: Args): Promise<{ merchant: string; accounts: string[]; payments: string[] }> {
  const t = d.clock().toISOString();
  const merchant = newId('mer');
  await pool.query("INSERT INTO merchants (id, display_name, spoken_name, status, created_at, updated_at) VALUES ($1, 'Bench', 'Bench', 'active', $2, $2)", [merchant, t]);
  await pool.query("INSERT INTO ledger_accounts (id, code, merchant_id, currency) VALUES ($1, 'merchant', $2, 'TWD')", [newId('led'), merchant]);
  const repo = new PgAccountRepository(pool, d, new PgLedger(pool, d));
  const accounts: string[] = [];
  const perAccount = Math.ceil(args.holds / args.accounts);
  for (let i = 0; i < args.accounts; i++) {
    const consumer = newId('cons');
    await pool.query(
      `INSERT INTO consumers (id, login_index, login_sealed, phone_index, phone_sealed, national_id_sealed, address_sealed, pin_hash, locale, status, created_at, updated_at)
       VALUES ($1, $2, '\\x00', '\\x00', '\\x00', '\\x00', '\\x00', 'x', 'en-US', 'active', $3, $3)`,
      [consumer, randomBytes(16), t],
    );
    const a = await repo.add({ consumerId: consumer, kind: 'mobile', number: `B${randomBytes(8).toString('hex').toUpperCase()}`, plan: 'prepaid', currency: 'TWD', creditLimit: null, makeDefault: true });
    // covers a little under half the holds this account gets: half succeed, the rest meet a balance they would overdraw
    await repo.topup(a.id, Math.floor(perAccount / 2) * AMOUNT + AMOUNT / 2, null);
    accounts.push(a.id);
  }
  const payments: string[] = [];
  for (let i = 0; i < args.holds; i += 500) {
    const ids = Array.from({ length: Math.min(500, args.holds - i) }, () => newId('pay'));
    await pool.query(
      `INSERT INTO payments (id, merchant_id, amount, currency, reference, description, return_url, metadata, status, live, expires_at, created_at, updated_at)
       SELECT id, $2, ${AMOUNT}, 'TWD', id, 'x', 'https://x/', '{}', 'calling', 1, $3, $3, $3 FROM unnest($1::text[]) AS id`,
      [`{${ids.join(',')}}`, merchant, t],
    );
    payments.push(...ids);
  }
  return { merchant, accounts, payments };
}

/** No account below zero; each account's pending sum equals its hold transfers; holds that said ok exist once. */
async function check(db: PgQueryable, accounts: string[], okCount: number): Promise<string[]> {
  const problems: string[] = [];
  const rows = await db.query<{ billable_account_id: string; balance: number; pending: number; held: number; holds: number }>(
    `SELECT l.billable_account_id, l.credits_posted - l.debits_posted AS balance, l.debits_pending AS pending,
       (SELECT coalesce(sum(amount), 0)::bigint FROM transfers t WHERE t.debit_account_id = l.id AND t.kind = 'hold') AS held,
       (SELECT count(*) FROM transfers t WHERE t.debit_account_id = l.id AND t.kind = 'hold') AS holds
     FROM ledger_accounts l WHERE l.billable_account_id = ANY($1::text[])`,
    [`{${accounts.join(',')}}`],
  );
  let holds = 0;
  for (const r of rows.rows) {
    if (r.balance - r.pending < 0) problems.push(`OVERDRAFT ${r.billable_account_id}: balance ${r.balance}, held ${r.pending}`);
    if (r.pending !== r.held) problems.push(`${r.billable_account_id}: debits_pending ${r.pending} but hold transfers sum to ${r.held}`);
    holds += r.holds;
  }
  if (holds !== okCount) problems.push(`${okCount} holds reported ok, ${holds} hold transfers written`);
  return problems;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function round(url: string, d: PgRepoDeps, args: Args, v: Variant): Promise<string> {
  const nodes = [openPgPool({ url, max: args.pool }), openPgPool({ url, max: args.pool })];
  try {
    const { merchant, accounts, payments } = await setUp(nodes[0]!, d, args);
    await Promise.all(nodes.map((p) => Promise.all(Array.from({ length: args.pool }, () => p.query('SELECT 1'))))); // connections open before timing
    if (v.attempts) v.attempts.n = 0;
    const latencies: number[] = [];
    let ok = 0;
    let refused = 0;
    let errors = 0;
    const start = performance.now();
    await Promise.all(payments.map(async (paymentId, i) => {
      const t0 = performance.now();
      try {
        const r = await v.hold(nodes[i % 2]!, { paymentId, merchantId: merchant, billableAccountId: accounts[i % accounts.length]!, amount: AMOUNT, currency: 'TWD' });
        if (r.ok) ok++;
        else refused++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t0);
    }));
    const seconds = (performance.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    const problems = await check(nodes[0]!, accounts, ok);
    const retries = v.attempts ? ` retries ${v.attempts.n - args.holds}` : '';
    return `${v.name.padEnd(52)} ${String(Math.round(args.holds / seconds)).padStart(6)} holds/s  p50 ${pct(latencies, 50).toFixed(1)} ms  p99 ${pct(latencies, 99).toFixed(1)} ms  ok ${ok} refused ${refused} errors ${errors}${retries}  ${problems.length ? problems.join('; ') : 'no overdraft, sums = transfers'}`;
  } finally {
    await Promise.all(nodes.map((p) => p.end()));
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let cluster: PgCluster | undefined;
  try {
    let url = args.url;
    if (!url) {
      cluster = await startPostgres();
      url = (await cluster.createDatabase('bench')).url;
    }
    const setup = openPgPool({ url, max: 2 });
    await applyPgMigrations(setup);
    await setup.end();
    const d: PgRepoDeps = { crypto: await Keyring.fromMasterKey(randomBytes(32)), clock: () => new Date(), cycleOf, webhookRetryForHours: 24 };
    console.log(`${args.holds} holds of ${AMOUNT} at once from 2 pools of ${args.pool} on ${args.accounts} prepaid account(s), one merchant; ${args.rounds} round(s)`);
    for (let r = 1; r <= args.rounds; r++) {
      // variants alternate within a round so machine noise spreads over all of them
      for (const v of variants(d)) console.log(`round ${r}  ${await round(url, d, args, v)}`);
    }
  } finally {
    await cluster?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
