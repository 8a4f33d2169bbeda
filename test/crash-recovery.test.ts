import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';
import { CRASH_AFTER_APPROVAL, startServe } from './helpers/serve-process.js';
import { eventually } from './helpers/daemon.js';
import { newPgWorldDatabase, pgWorldDb, sqliteWorldDb, usePgWorlds, WORLD_STORES, type WorldDb } from './helpers/pg-world.js';

/**
 * The daemon as a real child process: SIGKILL between the recorded approval and the charge, then
 * a restart, must leave the payment charged exactly once; SIGTERM stops it cleanly with exit 0.
 */
usePgWorlds();

describe.each(WORLD_STORES)('callpay serve as a process (%s)', (store) => {
  let dir: ReturnType<typeof tempDir>;
  let apiKey = '';
  let env: Record<string, string> = {};
  let openDb: () => WorldDb = () => { throw new Error('no database yet'); };

  beforeEach(async () => {
    dir = tempDir();
    // PostgreSQL: a fresh database for each test, named by every process (the CLI's and serve's)
    const pg = store === 'postgres' ? await newPgWorldDatabase() : undefined;
    const storeEnv = pg?.env ?? {};
    // PostgreSQL: a dead node's call is recovered once its lease ends, so a short (the shortest) lease
    const lease: Record<string, string> = pg ? { CALLPAY_STORE_CALL_LEASE_SECONDS: '3' } : {};
    env = { CALLPAY_TELEPHONY_ENGINE: 'simulated', CALLPAY_ARGON2_WORKERS: '1', CALLPAY_LOG_LEVEL: 'info', ...storeEnv, ...lease };
    const file = join(dir.path, 'callpay.db');
    openDb = pg ? () => pgWorldDb(pg.url) : () => sqliteWorldDb(file, { readonly: true });
    const cli = (args: string[], stdin?: string) => runCli(args, { cwd: dir.path, env: storeEnv, ...(stdin ? { stdin } : {}) });
    await cli(['init']);
    await cli(['consumer', 'add', '--login', 'alice', '--phone', '+886912345678', '--national-id', 'A123456789', '--address', 'No. 7, Section 1', '--pin-stdin'], '482916\n');
    const acct = JSON.parse((await cli(['account', 'add', 'alice', '--kind', 'mobile', '--number', '0912345678', '--plan', 'prepaid', '--json'])).stdout) as { id: string };
    await cli(['account', 'topup', acct.id, '--amount', '1000']);
    apiKey = (JSON.parse((await cli(['merchant', 'add', '--name', 'Stall', '--json'])).stdout) as { api_key: string }).api_key;
  });
  afterEach(() => dir.remove());

  const pay = (url: string) =>
    fetch(`${url}/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'idempotency-key': 'crash-1' },
      body: JSON.stringify({ amount: 25000, reference: 'r1', description: 'Bubble tea', return_url: 'https://shop.example/', login_account: 'alice' }),
      signal: AbortSignal.timeout(10_000),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as { id: string; status: string; live: boolean } }));

  it('charges exactly once after a SIGKILL between approval and charge', async () => {
    const first = await startServe(dir.path, env, undefined, CRASH_AFTER_APPROVAL);
    const created = await pay(first.url);
    expect(created.body.status).toBe('calling');
    const died = await Promise.race([first.exited, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
    expect(died?.signal).toBe('SIGKILL');

    const db = openDb();
    const id = created.body.id;
    const state = async () => {
      const payment = await db.query<{ status: string; authorized: number }>('SELECT status, CASE WHEN authorized_at IS NULL THEN 0 ELSE 1 END AS authorized FROM payments WHERE id = ?', [id]);
      expect(payment).toHaveLength(1);
      // in the order made: by time, then the hold before what resolves it
      const transfers = await db.query<{ kind: string }>('SELECT kind FROM transfers WHERE payment_id = ? ORDER BY created_at, kind', [id]);
      const [events] = await db.query<{ n: number }>("SELECT count(*) AS n FROM events WHERE payment_id = ? AND type = 'payment.succeeded'", [id]);
      return { ...payment[0], transfers: transfers.map((t) => t.kind), events: events?.n };
    };
    try {
      expect(await state()).toEqual({ status: 'calling', authorized: 1, transfers: ['hold'], events: 0 });
      for (let restart = 0; restart < 2; restart++) {
        const again = await startServe(dir.path, env);
        let stopped: Awaited<ReturnType<typeof again.stop>>;
        try {
          const replay = await pay(again.url);
          expect(replay.body.id).toBe(created.body.id);
          // A shared store recovers by lease, not at start-up (another node may still be running the
          // call): the restarted node, a new node, takes the call over by its periodic sweep.
          if (store === 'postgres') await eventually(async () => expect((await state()).status).toBe('succeeded'), 15_000);
        } finally {
          stopped = await again.stop('SIGTERM');
        }
        expect(stopped.code).toBe(0);
        expect(await state()).toEqual({ status: 'succeeded', authorized: 1, transfers: ['hold', 'post'], events: 1 });
      }
      const balance = await db.query('SELECT credits_posted - debits_posted - debits_pending AS balance FROM ledger_accounts WHERE code = ?', ['consumer']);
      expect(balance).toEqual([{ balance: 100000 - 25000 }]);
    } finally {
      await db.close();
    }
  });

  it('stops on SIGTERM with exit code 0 and marks simulated payments not live', async () => {
    const serve = await startServe(dir.path, env);
    const created = await pay(serve.url);
    expect(created.body.live).toBe(false);
    await eventually(async () => {
      const r = await fetch(`${serve.url}/v1/payments/${created.body.id}`, { headers: { authorization: `Bearer ${apiKey}` } });
      expect(((await r.json()) as { status: string }).status).toBe('succeeded');
    });
    const result = await serve.stop('SIGTERM');
    expect(result).toEqual({ code: 0, signal: null });
    expect(serve.output()).toContain('callpay stopped');
    expect(serve.output()).not.toContain('+886912345678');
  });
});
