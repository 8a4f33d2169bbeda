import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tempDir, type CliResult, jsonOf } from './helpers/cli.js';
import { openContext } from '../src/wiring/context.js';
import { checkPin, findConsumer } from '../src/admin/consumers.js';

const PHONE = '+886912345678';
const NATIONAL_ID = 'A123456789';
const ADDRESS = 'No. 7, Section 1, Zhongshan Rd';
const PIN = '482916';
const PASSWORD = 'night market 42';

const json = jsonOf;

describe('enrolment through the CLI', () => {
  let dir: ReturnType<typeof tempDir>;
  const cli = (args: string[], stdin?: string) => runCli(args, { cwd: dir.path, ...(stdin === undefined ? {} : { stdin }) });

  beforeEach(async () => {
    dir = tempDir();
    expect((await cli(['init'])).code).toBe(0);
  });
  afterEach(() => dir.remove());

  it('seals personal data: nothing in the database, WAL or logs; --reveal shows it; the PIN verifies', async () => {
    const logs: string[] = [];
    const add = await cli(
      ['consumer', 'add', '--login', 'alice', '--phone', PHONE, '--national-id', NATIONAL_ID, '--address', ADDRESS, '--pin-stdin', '--password-stdin', '--json'],
      `${PIN}\n${PASSWORD}\n`,
    );
    logs.push(add.logs);
    const consumer = json<{ id: string; phone: string; password: string }>(add);
    expect(consumer.phone).toBe('+886 9** *** 678');
    expect(consumer.password).toBe('set');

    const account = await cli(['account', 'add', 'alice', '--kind', 'mobile', '--number', '0912-345-678', '--plan', 'prepaid', '--json']);
    logs.push(account.logs);
    const acct = json<{ id: string }>(account);
    const topup = await cli(['account', 'topup', acct.id, '--amount', '500']);
    logs.push(topup.logs);
    expect(topup.stdout).toContain('500.00 TWD');

    const masked = await cli(['consumer', 'show', 'alice']);
    logs.push(masked.logs);
    for (const secret of [PHONE, NATIONAL_ID, ADDRESS, PIN, PASSWORD]) expect(masked.stdout).not.toContain(secret);

    const revealed = await cli(['consumer', 'show', 'alice', '--reveal', '--json']);
    logs.push(revealed.logs);
    const shown = json<Record<string, unknown>>(revealed);
    expect(shown).toMatchObject({ phone: PHONE, national_id: NATIONAL_ID, address: ADDRESS, password: 'set' });
    expect(revealed.stdout).not.toContain(PIN);
    expect(revealed.stdout).not.toContain(PASSWORD);

    // The PIN check goes through the same services the call will use.
    const ctx = await openContext({}, { cwd: dir.path, env: {} });
    try {
      const id = (await findConsumer(ctx.store.consumers, 'alice')).id;
      expect(await checkPin(ctx.consumerAdmin, id, PIN)).toBe(true);
      expect(await checkPin(ctx.consumerAdmin, id, '482917')).toBe(false);
      expect(await ctx.hasher.verify(PASSWORD, (await ctx.store.consumers.passwordHash(id)) ?? '')).toBe(true);
      // Read the files while the database is still open so the WAL is there too.
      const files = readdirSync(dir.path).filter((f) => f.startsWith('callpay.db'));
      expect(files).toContain('callpay.db-wal');
      const secrets = [PHONE, '912345678', NATIONAL_ID, ADDRESS, PIN, PASSWORD, '0912345678'];
      for (const f of files) {
        const bytes = readFileSync(join(dir.path, f));
        for (const s of secrets) {
          expect(bytes.includes(Buffer.from(s, 'utf8')), `${s} in ${f}`).toBe(false);
          expect(bytes.includes(Buffer.from(s, 'utf16le')), `${s} (UTF-16) in ${f}`).toBe(false);
        }
      }
    } finally {
      await ctx.close();
    }
    const allLogs = logs.join('');
    expect(allLogs).toContain('consumer enrolled');
    for (const s of [PHONE, NATIONAL_ID, ADDRESS, PIN, PASSWORD, '0912345678']) expect(allLogs).not.toContain(s);
  });

  it('creates the key file 0600 and the database owner-only', () => {
    const mode = (f: string) => statSync(join(dir.path, f)).mode & 0o777;
    expect(existsSync(join(dir.path, 'callpay.key'))).toBe(true);
    expect(mode('callpay.key')).toBe(0o600);
    expect(mode('callpay.db')).toBe(0o600);
  });

  it('manages the consumer lifecycle, accounts and password', async () => {
    await cli(['consumer', 'add', '--login', 'Bob.Chen', '--phone', '+88622345678', '--national-id', 'B223456789', '--address', 'No. 1, Lane 2, Taipei', '--locale', 'en-US', '--pin-stdin'], '1234\n');
    const shown = json<{ login: string; locale: string; password: string; status: string }>(await cli(['consumer', 'show', 'BOB.CHEN', '--json']));
    expect(shown).toMatchObject({ login: 'bob.chen', locale: 'en-US', password: 'none', status: 'active' });

    expect((await cli(['consumer', 'lock', 'bob.chen'])).stdout).toContain('locked');
    expect((await cli(['consumer', 'lock', 'bob.chen'])).code).toBe(1);
    expect((await cli(['consumer', 'unlock', 'bob.chen'])).stdout).toContain('active');
    expect((await cli(['consumer', 'update', 'bob.chen', '--address', 'No. 9, Other Rd'])).code).toBe(0);
    expect((await cli(['consumer', 'set-password', 'bob.chen', '--password-stdin'], 'a long password\n')).code).toBe(0);
    expect(json<{ password: string }>(await cli(['consumer', 'show', 'bob.chen', '--json'])).password).toBe('set');
    expect((await cli(['consumer', 'set-password', 'bob.chen', '--remove'])).code).toBe(0);
    expect(json<{ password: string }>(await cli(['consumer', 'show', 'bob.chen', '--json'])).password).toBe('none');
    expect((await cli(['consumer', 'set-pin', 'bob.chen', '--pin-stdin'], '87654321\n')).code).toBe(0);

    const first = json<{ id: string; default: boolean }>(await cli(['account', 'add', 'bob.chen', '--kind', 'landline', '--number', '0222345678', '--plan', 'postpaid', '--credit-limit', '3000', '--json']));
    const second = json<{ id: string; default: boolean }>(await cli(['account', 'add', 'bob.chen', '--kind', 'broadband', '--number', 'HN12345678', '--plan', 'prepaid', '--default', '--json']));
    expect(first.default).toBe(true);
    expect(second.default).toBe(true);
    const list = json<Array<{ id: string; default: boolean; number: string }>>(await cli(['account', 'list', 'bob.chen', '--json']));
    expect(list.map((a) => [a.id, a.default])).toEqual([[second.id, true], [first.id, false]]);
    expect(list[0]?.number).toBe('******5678');

    const listed = json<Array<{ login: string }>>(await cli(['consumer', 'list', '--json']));
    expect(listed.map((c) => c.login)).toEqual(['bob.chen']);
    expect((await cli(['consumer', 'close', 'bob.chen'])).code).toBe(0);
    expect(json<unknown[]>(await cli(['consumer', 'list', '--status', 'active', '--json']))).toEqual([]);
  });

  it('enrols merchants with API keys shown once and stored only as hashes', async () => {
    const added = json<{ id: string; api_key: string }>(await cli(['merchant', 'add', '--name', 'Night Market Stall 12', '--webhook-url', 'https://shop.example/hooks', '--json']));
    expect(added.api_key).toMatch(/^cpk_/);
    const rotated = json<{ api_key: string }>(await cli(['merchant', 'rotate-key', added.id, '--json']));
    expect(rotated.api_key).not.toBe(added.api_key);
    const shown = json<{ api_keys: Array<{ revoked_at: string | null }>; spoken_name: string }>(await cli(['merchant', 'show', added.id, '--json']));
    expect(shown.api_keys).toHaveLength(2);
    expect(shown.api_keys.every((k) => k.revoked_at === null)).toBe(true);
    expect(shown.spoken_name).toBe('Night Market Stall 12');

    const ctx = await openContext({}, { cwd: dir.path, env: {} });
    try {
      expect((await ctx.store.merchants.findByApiKey(added.api_key))?.id).toBe(added.id);
      expect((await ctx.store.merchants.findByApiKey(rotated.api_key))?.id).toBe(added.id);
      expect(await ctx.store.merchants.findByApiKey(`${added.api_key}x`)).toBeUndefined();
    } finally {
      await ctx.close();
    }
    const db = readFileSync(join(dir.path, 'callpay.db'));
    expect(db.includes(Buffer.from(added.api_key))).toBe(false);

    await cli(['merchant', 'rotate-key', added.id, '--revoke-others']);
    const after = json<{ api_keys: Array<{ revoked_at: string | null }> }>(await cli(['merchant', 'show', added.id, '--json']));
    expect(after.api_keys.filter((k) => k.revoked_at === null)).toHaveLength(1);
    expect(json<{ status: string }>(await cli(['merchant', 'disable', added.id, '--json'])).status).toBe('disabled');
    expect(json<Array<{ id: string }>>(await cli(['merchant', 'list', '--json'])).map((m) => m.id)).toEqual([added.id]);
  });
});
