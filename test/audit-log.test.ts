import { userInfo } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dumpDatabase, runCli, tempDir, type CliResult, jsonOf } from './helpers/cli.js';

const PHONE = '+886912345678';
const NATIONAL_ID = 'A123456789';
const ADDRESS = 'No. 7, Section 1, Zhongshan Rd';
const PIN = '482916';
const ACCOUNT_NUMBER = '0912-345-678';

interface Entry { seq: number; actor: string; action: string; subject: string; details: Record<string, unknown> }

const json = jsonOf;

/** Issue 13, item 7: who revealed or changed what, in a chain nobody can edit unseen. */
describe('operator audit log', () => {
  let dir: ReturnType<typeof tempDir>;
  const env = { SUDO_USER: 'mei' };
  const cli = (args: string[], stdin?: string) => runCli(args, { cwd: dir.path, env, ...(stdin === undefined ? {} : { stdin }) });
  const entries = async () => json<Entry[]>(await cli(['audit', 'list', '--json', '--limit', '1000']));
  /** The test's own writable connection, with the append-only triggers out of the way: what an attacker with the file could do. */
  function tamper(sql: string, ...params: unknown[]): void {
    const db = new Database(join(dir.path, 'callpay.db'));
    try {
      db.exec('DROP TRIGGER IF EXISTS audit_log_append_only_u; DROP TRIGGER IF EXISTS audit_log_append_only_d;');
      db.prepare(sql).run(...params);
    } finally {
      db.close();
    }
  }

  beforeEach(async () => {
    dir = tempDir();
    expect((await cli(['init'])).code).toBe(0);
    const add = await cli(['consumer', 'add', '--login', 'alice', '--phone', PHONE, '--national-id', NATIONAL_ID, '--address', ADDRESS, '--pin-stdin', '--json'], `${PIN}\n`);
    expect(add.code).toBe(0);
  });
  afterEach(() => dir.remove());

  it('records reveals and changes with the operator, ids and field names, never the values', async () => {
    const acct = json<{ id: string }>(await cli(['account', 'add', 'alice', '--kind', 'mobile', '--number', ACCOUNT_NUMBER, '--plan', 'prepaid', '--json']));
    expect((await cli(['account', 'topup', acct.id, '--amount', '500'])).code).toBe(0);
    expect((await cli(['consumer', 'show', 'alice', '--reveal'])).code).toBe(0);
    expect((await cli(['consumer', 'show', 'alice'])).code).toBe(0); // masked: not an audited reveal
    expect((await cli(['consumer', 'update', 'alice', '--address', 'No. 9, Roosevelt Rd'])).code).toBe(0);
    expect((await cli(['consumer', 'set-pin', 'alice', '--pin-stdin'], '135790\n')).code).toBe(0);
    expect((await cli(['consumer', 'lock', 'alice'])).code).toBe(0);
    expect((await cli(['consumer', 'unlock', 'alice'])).code).toBe(0);
    expect((await cli(['account', 'list', 'alice', '--reveal'])).code).toBe(0);
    const mer = json<{ id: string }>(await cli(['merchant', 'add', '--name', 'Night Market', '--json']));
    expect((await cli(['merchant', 'rotate-key', mer.id, '--revoke-others'])).code).toBe(0);
    expect((await cli(['merchant', 'disable', mer.id])).code).toBe(0);

    const list = await entries();
    expect(list.map((e) => e.action)).toEqual([
      'consumer.add', 'account.add', 'account.topup', 'consumer.reveal', 'consumer.update', 'consumer.set_pin',
      'consumer.lock', 'consumer.unlock', 'account.reveal', 'merchant.add', 'merchant.rotate_key', 'merchant.disable',
    ]);
    expect(list.map((e) => e.seq)).toEqual(list.map((_, i) => i + 1));
    const me = userInfo().username;
    for (const e of list) expect(e.actor).toBe(me === 'mei' ? 'mei' : `${me} (sudo from mei)`);
    expect(list.find((e) => e.action === 'account.topup')).toMatchObject({ subject: acct.id, details: { amount_minor: 50000, balance_minor: 50000, currency: 'TWD' } });
    expect(list.find((e) => e.action === 'consumer.update')?.details).toEqual({ changed: ['address'] });
    expect(list.find((e) => e.action === 'merchant.rotate_key')?.details).toMatchObject({ revoked_others: true });
    const text = JSON.stringify(list) + dumpDatabase(join(dir.path, 'callpay.db'));
    for (const secret of [PHONE, NATIONAL_ID, ADDRESS, PIN, '135790', ACCOUNT_NUMBER, '0912345678', 'Roosevelt']) expect(text).not.toContain(secret);

    const bySubject = json<Entry[]>(await cli(['audit', 'list', '--subject', mer.id, '--json']));
    expect(bySubject.map((e) => e.action)).toEqual(['merchant.add', 'merchant.rotate_key', 'merchant.disable']);
    const verified = await cli(['audit', 'verify']);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(`audit log intact: ${list.length} entries`);
  });

  it('writes nothing for a command that fails, and the change and its entry commit together', async () => {
    const before = (await entries()).length;
    const bad = await cli(['consumer', 'update', 'alice', '--phone', 'not-a-number']);
    expect(bad.code).not.toBe(0);
    const locked = await cli(['consumer', 'unlock', 'alice']); // not locked: refused
    expect(locked.code).not.toBe(0);
    expect((await entries()).length).toBe(before);
  });

  it('refuses updates and deletes through SQL (append-only triggers)', () => {
    const db = new Database(join(dir.path, 'callpay.db'));
    try {
      expect(() => db.prepare("UPDATE audit_log SET actor = 'nobody'").run()).toThrow(/append-only/);
      expect(() => db.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/);
    } finally {
      db.close();
    }
  });

  it('verify finds an edited entry, a removed entry and a removed tail', async () => {
    for (const cmd of [['consumer', 'lock', 'alice'], ['consumer', 'unlock', 'alice'], ['consumer', 'show', 'alice', '--reveal']]) expect((await cli(cmd)).code).toBe(0);
    expect((await entries()).length).toBe(4);

    tamper("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2");
    let v = await cli(['audit', 'verify', '--json']);
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout)).toEqual({ ok: false, rows: 1, brokenAt: 2, reason: 'changed' });
    expect(v.stderr).toContain('[audit_broken]');

    // Put it back exactly: the chain holds again (the MAC is over the content, not over the edit).
    tamper(`UPDATE audit_log SET actor = ? WHERE seq = 2`, (await entries())[0]!.actor);
    expect((await cli(['audit', 'verify'])).code).toBe(0);

    tamper('DELETE FROM audit_log WHERE seq = 3');
    v = await cli(['audit', 'verify', '--json']);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: false, brokenAt: 4, reason: 'deleted' });

    tamper('DELETE FROM audit_log WHERE seq >= 3');
    v = await cli(['audit', 'verify', '--json']);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: false, brokenAt: 3, reason: 'truncated' });
  });

  it('names the bad argument', async () => {
    const r = await cli(['audit', 'list', '--after', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--after');
  });
});
