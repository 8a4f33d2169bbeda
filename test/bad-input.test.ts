import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpDatabase, runCli, tempDir } from './helpers/cli.js';

/**
 * Each bad input: non-zero exit, one line on stderr naming the field, and the database exactly as
 * it was before (compared row by row).
 */
describe('bad input to the CLI', () => {
  const dir = tempDir();
  const db = join(dir.path, 'callpay.db');
  let merchantId = '';
  const cli = (args: string[], stdin?: string) => runCli(args, { cwd: dir.path, ...(stdin === undefined ? {} : { stdin }) });
  const enrol = (overrides: Record<string, string>, stdin = '482916\n') => {
    const fields = { login: 'carol', phone: '+886912345678', 'national-id': 'A123456789', address: 'No. 7, Section 1, Zhongshan Rd', ...overrides };
    return cli(['consumer', 'add', ...Object.entries(fields).flatMap(([k, v]) => [`--${k}`, v]), '--pin-stdin'], stdin);
  };

  beforeAll(async () => {
    expect((await cli(['init'])).code).toBe(0);
    expect((await enrol({ login: 'existing' })).code).toBe(0);
    const m = await cli(['merchant', 'add', '--name', 'Shop', '--json']);
    merchantId = (JSON.parse(m.stdout) as { id: string }).id;
  });
  afterAll(() => dir.remove());

  async function expectRefused(run: () => Promise<{ code: number; stderr: string }>, field: string, code?: string) {
    const before = dumpDatabase(db);
    const r = await run();
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(field);
    if (code) expect(lines[0]).toContain(`[${code}]`);
    expect(dumpDatabase(db)).toBe(before);
  }

  it.each([
    ['a phone number without "+"', { phone: '0912345678' }, 'phone'],
    ['a phone number with letters', { phone: '+88691234567A' }, 'phone'],
    ['a phone number too long', { phone: '+8869123456789012' }, 'phone'],
    ['a Taiwan number with a bad prefix', { phone: '+886012345678' }, 'phone'],
    ['a login account with spaces', { login: 'no spaces please' }, 'login'],
    ['a duplicate login account', { login: 'EXISTING' }, 'login'],
    ['a bad locale', { locale: 'fr-FR' }, 'locale'],
  ])('refuses %s', async (_name, overrides, field) => {
    await expectRefused(() => enrol(overrides), field);
  });

  it.each([
    ['a PIN with a non-digit', '48291a\n'],
    ['a PIN too short', '482\n'],
    ['a PIN too long', '482916123\n'],
    ['no PIN at all', ''],
  ])('refuses %s', async (_name, stdin) => {
    await expectRefused(() => enrol({}, stdin), 'pin');
  });

  it('refuses a PIN that is not given when standard input is not a terminal', async () => {
    await expectRefused(() => cli(['consumer', 'add', '--login', 'dave', '--phone', '+886912345678', '--national-id', 'A1234567', '--address', 'Somewhere 1']), 'pin', 'secret_input');
  });

  it('refuses a password that is too short', async () => {
    await expectRefused(() => cli(['consumer', 'add', '--login', 'erin', '--phone', '+886912345678', '--national-id', 'A1234567', '--address', 'Somewhere 1', '--pin-stdin', '--password-stdin'], '1234\nshort\n'), 'password');
  });

  it('refuses unknown consumers and merchants', async () => {
    await expectRefused(() => cli(['consumer', 'show', 'nobody']), 'consumer', 'not_found');
    await expectRefused(() => cli(['consumer', 'lock', 'cons_doesnotexist']), 'consumer', 'not_found');
    await expectRefused(() => cli(['account', 'add', 'nobody', '--kind', 'mobile', '--number', '12345678', '--plan', 'prepaid']), 'consumer', 'not_found');
    await expectRefused(() => cli(['merchant', 'show', 'mer_nope']), 'merchant', 'not_found');
    await expectRefused(() => cli(['merchant', 'rotate-key', 'mer_nope']), 'merchant', 'not_found');
    await expectRefused(() => cli(['account', 'topup', 'acct_nope', '--amount', '10']), 'account', 'not_found');
  });

  it('refuses bad account and merchant fields', async () => {
    await expectRefused(() => cli(['account', 'add', 'existing', '--kind', 'mobile', '--number', '12345678', '--plan', 'postpaid']), 'credit-limit');
    await expectRefused(() => cli(['account', 'add', 'existing', '--kind', 'mobile', '--number', '12345678', '--plan', 'postpaid', '--credit-limit', '-5']), 'credit-limit');
    await expectRefused(() => cli(['account', 'add', 'existing', '--kind', 'mobile', '--number', '12', '--plan', 'prepaid']), 'number');
    await expectRefused(() => cli(['account', 'add', 'existing', '--kind', 'fax', '--number', '12345678', '--plan', 'prepaid']), 'kind');
    await expectRefused(() => cli(['merchant', 'add', '--name', 'Shop', '--webhook-url', 'ftp://x.example/']), 'webhook-url');
    await expectRefused(() => cli(['merchant', 'add', '--name', '']), 'name');
    await expectRefused(() => cli(['consumer', 'list', '--limit', '0']), 'limit');
    await expectRefused(() => cli(['merchant', 'enable', merchantId]), 'merchant', 'invalid_state');
  });

  // C1 controls, bidirectional formatting and line separators, like C0: the rule of src/domain/text.ts.
  it.each([
    ['U+202E in a display name', () => ['merchant', 'add', '--name', 'Shop\u202e21'], 'name'],
    ['U+0085 in a spoken name', () => ['merchant', 'add', '--name', 'Shop', '--spoken-name', 'Sh\u0085op'], 'spoken-name'],
    ['U+2066 in a display name', () => ['merchant', 'add', '--name', '\u2066Shop\u2069'], 'name'],
    ['U+200F in a display name', () => ['merchant', 'add', '--name', 'Shop\u200f 12'], 'name'],
    ['U+202E in a webhook URL', () => ['merchant', 'add', '--name', 'Shop', '--webhook-url', 'https://shop.example/\u202ehook'], 'webhook-url'],
    ['U+2028 in an address', () => ['consumer', 'add', '--login', 'dora', '--phone', '+886912345678', '--national-id', 'A123456789', '--address', 'No. 7\u2028Section 1', '--pin-stdin'], 'address'],
    ['U+009B in a new address', () => ['consumer', 'update', 'existing', '--address', 'No.\u009b7 Road'], 'address'],
    ['U+202E in a QR reference', () => ['merchant', 'qr', merchantId, '--reference', 'Table\u202e7'], 'reference'],
    ['U+2029 in a QR description', () => ['merchant', 'qr', merchantId, '--description', 'Tea\u2029and cake'], 'description'],
    ['U+0085 in a QR description', () => ['merchant', 'qr', merchantId, '--description', 'Tea\u0085'], 'description'],
  ])('refuses %s', async (_name, args, field) => {
    await expectRefused(() => cli(args(), '482916\n'), field, 'invalid_field');
  });

  it('refuses C1 and bidi characters in a top-up memo and in passwords', async () => {
    const acct = JSON.parse((await cli(['account', 'add', 'existing', '--kind', 'mobile', '--number', '0912000111', '--plan', 'prepaid', '--json'])).stdout) as { id: string };
    await expectRefused(() => cli(['account', 'topup', acct.id, '--amount', '10', '--memo', 'receipt\u009b1']), 'memo', 'invalid_field');
    await expectRefused(() => cli(['account', 'topup', acct.id, '--amount', '10', '--memo', '\u202ereceipt']), 'memo', 'invalid_field');
    await expectRefused(() => cli(['consumer', 'set-password', 'existing', '--password-stdin'], 'correct\u0085horse battery\n'), 'password', 'invalid_field');
    await expectRefused(() => cli(['consumer', 'set-password', 'existing', '--password-stdin'], 'correct\u202ehorse battery\n'), 'password', 'invalid_field');
  });

  it('refuses a missing key file and a world-readable one', async () => {
    const key = join(dir.path, 'callpay.key');
    chmodSync(key, 0o644);
    await expectRefused(() => cli(['consumer', 'list']), 'callpay.key', 'key_insecure');
    chmodSync(key, 0o600);
    const other = tempDir();
    try {
      const r = await runCli(['consumer', 'list'], { cwd: other.path });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('[key_missing]');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    } finally {
      other.remove();
    }
  });

  it('refuses a master key that does not match the database', async () => {
    await expectRefused(() => runCli(['consumer', 'list'], { cwd: dir.path, env: { CALLPAY_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') } }), 'key', 'key_invalid');
  });

  it('refuses a corrupt config file, an unknown key and a bad environment value', async () => {
    const config = join(dir.path, 'callpay.json');
    try {
      writeFileSync(config, '{ "http": { "port": 80 ');
      await expectRefused(() => cli(['consumer', 'list']), 'callpay.json', 'config_invalid');
      writeFileSync(config, '{ "http": { "prot": 80 } }');
      await expectRefused(() => cli(['consumer', 'list']), 'http.prot', 'config_invalid');
    } finally {
      rmSync(config, { force: true });
    }
    await expectRefused(() => runCli(['consumer', 'list'], { cwd: dir.path, env: { CALLPAY_HTTP_PORT: 'eighty' } }), 'http.port', 'config_invalid');
    await expectRefused(() => runCli(['consumer', 'list'], { cwd: dir.path, env: { CALLPAY_HTTP_PROT: '80' } }), 'CALLPAY_HTTP_PROT', 'config_invalid');
  });
});

describe('merchant spoken names', () => {
  it('refuses a recording that is not 8 kHz mono 16-bit WAV, storing nothing; accepts a good one', async () => {
    const dir = tempDir();
    try {
      const cli = (args: string[]) => runCli(args, { cwd: dir.path });
      await cli(['init']);
      const db = join(dir.path, 'callpay.db');
      const before = dumpDatabase(db);
      const bad = join(dir.path, 'bad.wav');
      writeFileSync(bad, 'not a wav');
      const r = await cli(['merchant', 'add', '--name', 'Stall', '--voice', bad]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('voice');
      expect(dumpDatabase(db)).toBe(before);
      const tone = fileURLToPath(new URL('../prompts/common/test-tone.wav', import.meta.url));
      const ok = await cli(['merchant', 'add', '--name', 'Stall', '--voice', tone, '--json']);
      expect(JSON.parse(ok.stdout)).toMatchObject({ voice_source: 'recording' });
    } finally {
      dir.remove();
    }
  });
});
