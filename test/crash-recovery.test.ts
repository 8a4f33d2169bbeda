import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';
import { CRASH_AFTER_APPROVAL, startServe } from './helpers/serve-process.js';
import { eventually } from './helpers/daemon.js';

/**
 * The daemon as a real child process: SIGKILL between the recorded approval and the charge, then
 * a restart, must leave the payment charged exactly once; SIGTERM stops it cleanly with exit 0.
 */
describe('callpay serve as a process', () => {
  let dir: ReturnType<typeof tempDir>;
  let apiKey = '';
  const env = { CALLPAY_TELEPHONY_ENGINE: 'simulated', CALLPAY_ARGON2_WORKERS: '1', CALLPAY_LOG_LEVEL: 'info' };

  beforeEach(async () => {
    dir = tempDir();
    const cli = (args: string[], stdin?: string) => runCli(args, { cwd: dir.path, ...(stdin ? { stdin } : {}) });
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

    const db = new Database(join(dir.path, 'callpay.db'), { readonly: true });
    const state = () => ({
      status: db.prepare('SELECT status FROM payments WHERE id = ?').pluck().get(created.body.id),
      authorized: db.prepare('SELECT authorized_at IS NOT NULL FROM payments WHERE id = ?').pluck().get(created.body.id),
      transfers: db.prepare('SELECT kind FROM transfers WHERE payment_id = ? ORDER BY rowid').pluck().all(created.body.id),
      events: db.prepare("SELECT count(*) FROM events WHERE payment_id = ? AND type = 'payment.succeeded'").pluck().get(created.body.id),
    });
    try {
      expect(state()).toEqual({ status: 'calling', authorized: 1, transfers: ['hold'], events: 0 });
      for (let restart = 0; restart < 2; restart++) {
        const again = await startServe(dir.path, env);
        const replay = await pay(again.url);
        expect(replay.body.id).toBe(created.body.id);
        expect((await again.stop('SIGTERM')).code).toBe(0);
        expect(state()).toEqual({ status: 'succeeded', authorized: 1, transfers: ['hold', 'post'], events: 1 });
      }
      const balance = db.prepare('SELECT credits_posted - debits_posted - debits_pending FROM ledger_accounts WHERE code = ?').pluck().get('consumer');
      expect(balance).toBe(100000 - 25000);
    } finally {
      db.close();
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
