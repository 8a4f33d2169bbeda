import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openContext, type AppContext } from '../src/wiring/context.js';
import { startDaemon } from '../src/wiring/daemon.js';
import { pepperKeyOf } from '../src/crypto/secret-hasher.js';
import { enrolPrepaid, eventually, startWorld, type TestWorld } from './helpers/daemon.js';
import { jsonOf, runCli } from './helpers/cli.js';

const PIN = '482916';
const SERVE_ENV = { CALLPAY_HTTP_PORT: '0', CALLPAY_ADMIN_PORT: '0', CALLPAY_ARGON2_WORKERS: '1', CALLPAY_IVR_MAX_CALLS_PER_CONSUMER_PER_HOUR: '1000', CALLPAY_IVR_MAX_CALLS_PER_NUMBER_PER_HOUR: '1000' };
const BOTH_KEYS = { CALLPAY_KEY_FILE: 'k2.key', CALLPAY_PREVIOUS_KEY_FILES: 'callpay.key' };
const NEW_KEY = { CALLPAY_KEY_FILE: 'k2.key' };

interface Status { currentKey: string; databaseKey: string; pending: Record<string, number>; secretHashes: Record<string, number> }

/**
 * Issue 13, item 6, online: the daemon restarted with the new key and the old one serves payments
 * for consumers enrolled under the old key while `callpay key rotate` runs next to it; PINs move to
 * the new key at their next entry; afterwards the daemon runs on the new key alone.
 */
describe('key rotation with the daemon online', () => {
  let w: TestWorld;
  const contexts: AppContext[] = [];
  const cli = (args: string[], keys: Record<string, string>, stdin?: string) => runCli(args, { cwd: w.dir, env: { ...SERVE_ENV, ...keys }, ...(stdin === undefined ? {} : { stdin }) });
  const pinHash = () => w.db.prepare("SELECT pin_hash FROM consumers").pluck().get() as string;

  /** Stops the running daemon and starts another on the same database with these keys. */
  async function restartWith(keys: Record<string, string>): Promise<void> {
    await w.daemon.stop();
    const ctx = await openContext({ logLevel: 'silent' }, { cwd: w.dir, env: { ...SERVE_ENV, ...keys }, clock: () => new Date(w.clock.now) });
    contexts.push(ctx);
    w.daemon = await startDaemon(ctx, { authorizer: w.engine });
  }

  /** A payment for alice whose call checks her PIN; resolves with its final status. */
  async function payWithPin(reference: string): Promise<string> {
    w.engine.script.push(async (req) => ((await req.verifyPin(PIN)) === 'ok' ? { kind: 'approved' } : { kind: 'wrong_pin' }));
    const r = await w.api('POST', '/v1/payments', {
      body: { amount: 1000, currency: 'TWD', reference, description: 'Tea', return_url: 'https://shop.example/done', login_account: 'alice' },
      idem: `rot-${reference}`,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return eventually(async () => {
      const p = await w.api('GET', `/v1/payments/${r.body.id}`);
      expect(['succeeded', 'declined', 'failed']).toContain(p.body.status);
      return p.body.status as string;
    }, 20_000);
  }

  beforeAll(async () => {
    w = await startWorld();
    await enrolPrepaid(w, 'alice', '5000');
    expect((await w.cli(['key', 'new', '--out', 'k2.key'])).code).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await w.close();
    for (const ctx of contexts) await ctx.close();
  });

  it('serves old-key consumers with both keys, rotates alongside, then runs on the new key alone', async () => {
    const oldKey = jsonOf<Status>(await cli(['key', 'status', '--json'], {})).currentKey;
    expect(pepperKeyOf(pinHash())).toBe(oldKey);
    await restartWith(BOTH_KEYS);
    const newKey = jsonOf<Status>(await cli(['key', 'status', '--json'], BOTH_KEYS)).currentKey;
    expect(newKey).not.toBe(oldKey);

    // Found by her login's old-key index; her PIN checks against the old pepper and moves to the new.
    expect(await payWithPin('before-rotation')).toBe('succeeded');
    await eventually(() => expect(pepperKeyOf(pinHash())).toBe(newKey));

    // Her login is taken under either key: the unique index alone would see only the new key's.
    const again = await cli(['consumer', 'add', '--login', 'alice', '--phone', '+886912000111', '--national-id', 'B123456789', '--address', 'No. 1', '--pin-stdin'], BOTH_KEYS, `${PIN}\n`);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already enrolled/);

    // The rotation runs in its own connection while payments go on through the daemon.
    const [rotate, ...statuses] = await Promise.all([
      cli(['key', 'rotate', '--batch-size', '1'], BOTH_KEYS),
      ...['during-1', 'during-2', 'during-3'].map((ref) => payWithPin(ref)),
    ]);
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(statuses).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const after = jsonOf<Status>(await cli(['key', 'status', '--json'], BOTH_KEYS));
    expect(after).toMatchObject({ databaseKey: newKey, pending: {}, secretHashes: { [newKey]: 1 } });
    expect(rotate.stdout).toMatch(/previousKeyFiles can be emptied/);

    await restartWith(NEW_KEY);
    expect(await payWithPin('after-rotation')).toBe('succeeded');
    expect((await cli(['audit', 'verify'], NEW_KEY)).code).toBe(0);
  }, 120_000);
});
