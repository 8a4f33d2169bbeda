import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolPrepaid, finalOf, startWorld, type TestWorld } from './helpers/daemon.js';

/**
 * Every statement the daemon prepares while it takes, charges, refunds, cancels and lists payments
 * finds its rows through an index: a full scan of a table that grows with every payment (transfers,
 * payments, ledger accounts...) makes each request slower than the last. SQLite's own query plans,
 * on the world's real database file, after the flows have run.
 */

/** Scans known and accepted, each with why it is harmless. */
const ACCEPTED_SCANS: ReadonlyArray<{ sql: RegExp; why: string }> = [
  { sql: /^DELETE FROM attempt_limits WHERE created_at < \?/, why: 'periodic prune of a table kept to its window' },
  { sql: /FROM schema_migrations|FROM sqlite_master|FROM sqlite_sequence|FROM pragma_/i, why: 'start-up and bookkeeping tables of a few rows' },
  { sql: /^SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1$/, why: 'the last row by rowid: SQLite reads one row from the end' },
];

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as typeof BetterSqlite3;
const prepared = new Set<string>();
const original = Database.prototype.prepare;

const order = (extra: Record<string, unknown> = {}) => ({
  amount: 15000, currency: 'TWD', reference: 'plans', description: 'Oyster omelette', return_url: 'https://shop.example/done', ...extra,
});
let seq = 0;
const idem = () => `plans-${++seq}-${Math.random()}`;

describe('query plans of the payment flows (sqlite)', () => {
  let w: TestWorld;

  beforeAll(async () => {
    Database.prototype.prepare = function (this: BetterSqlite3.Database, sql: string) {
      prepared.add(sql);
      return original.call(this, sql);
    } as typeof original;
    w = await startWorld({ CALLPAY_RATE_LIMIT_BURST: '1000' });
    await enrolPrepaid(w, 'alice', '1000');
    const pay = async (extra: Record<string, unknown>) => {
      const r = await w.api('POST', '/v1/payments', { body: order({ reference: `plans-${seq}`, ...extra }), idem: idem() });
      expect(r.status).toBe(201);
      return r.body.id as string;
    };
    // Enough rows that SQLite's planner sees a table worth indexing (its choice can depend on row counts).
    for (let i = 0; i < 5; i++) {
      w.engine.script.push(async (req) => ((await req.verifyPin('482916')) === 'ok' ? { kind: 'approved' } : { kind: 'wrong_pin' }));
      const id = await pay({ login_account: 'alice' });
      expect((await finalOf(w, id)).status).toBe('succeeded');
      expect((await w.api('POST', `/v1/payments/${id}/refunds`, { body: { amount: 100 }, idem: idem() })).status).toBe(201);
    }
    w.engine.script.push({ kind: 'busy' });
    expect((await finalOf(w, await pay({ login_account: 'alice' }))).status).toBe('failed');
    const open = await pay({});
    expect((await w.api('POST', `/v1/payments/${open}/cancel`)).status).toBe(200);
    expect((await w.api('GET', `/v1/payments/${open}`)).status).toBe(200);
    expect((await w.api('GET', `/v1/payments/${open}/transitions`)).status).toBe(200);
    expect((await w.api('GET', '/v1/payments?limit=10')).status).toBe(200);
    expect((await w.api('GET', `/v1/payments/${open}/calls`)).status).toBe(200);
    expect((await w.api('GET', '/v1/events?limit=10')).status).toBe(200);
  });
  afterAll(async () => {
    Database.prototype.prepare = original;
    await w?.close();
  });

  it('finds rows through indexes, not by scanning tables that grow', () => {
    const scans: string[] = [];
    for (const sql of prepared) {
      if (!/^\s*(SELECT|UPDATE|DELETE|INSERT|WITH)\b/i.test(sql)) continue;
      const flat = sql.replace(/\s+/g, ' ').trim();
      if (ACCEPTED_SCANS.some((a) => a.sql.test(flat))) continue;
      const plan = explain(w.db, sql);
      // A scan of json_each walks one row's JSON, not a table.
      const scan = plan.filter((d) => /^SCAN /.test(d) && !/VIRTUAL TABLE/.test(d));
      if (scan.length > 0) scans.push(`${flat.slice(0, 160)}\n    => ${plan.join(' | ')}`);
    }
    expect(prepared.size).toBeGreaterThan(30);
    expect(scans).toEqual([]);
  });
});

/** EXPLAIN QUERY PLAN of a statement with placeholders: bound to NULLs (the plan is chosen before values matter). */
function explain(db: BetterSqlite3.Database, sql: string): string[] {
  const stmt = original.call(db, `EXPLAIN QUERY PLAN ${sql}`) as BetterSqlite3.Statement;
  const named = [...sql.matchAll(/[@:$]([A-Za-z_]\w*)/g)].map((m) => m[1]!);
  if (named.length > 0) return (stmt.all(Object.fromEntries(named.map((k) => [k, null]))) as Array<{ detail: string }>).map((r) => r.detail);
  for (let n = 0; n <= 64; n++) {
    try {
      return (stmt.all(...Array<null>(n).fill(null)) as Array<{ detail: string }>).map((r) => r.detail);
    } catch (e) {
      if (!/Too few parameter|Too many parameter|named parameters/i.test(String(e))) throw e;
    }
  }
  throw new Error(`could not bind the placeholders of: ${sql}`);
}
