import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CallpayError } from '../src/domain/errors.js';
import { describeConfigKeys, envNameFor, loadConfig } from '../src/config/load.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'callpay-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a file under the test's directory; objects are written as JSON. */
function write(name: string, content: unknown): string {
  const file = join(dir, name);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

function load(env: NodeJS.ProcessEnv = {}, configPath?: string) {
  return loadConfig({ cwd: dir, env, ...(configPath === undefined ? {} : { configPath }) });
}

/** Asserts the one config_invalid error: its field, and a one-line message that names the field. */
function expectInvalid(run: () => unknown, field: string): CallpayError {
  let caught: unknown;
  try {
    run();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CallpayError);
  const error = caught as CallpayError;
  expect(error.code).toBe('config_invalid');
  expect(error.field).toBe(field);
  expect(error.message).not.toMatch(/\n/);
  expect(error.message).toContain(field);
  return error;
}

describe('loadConfig layering', () => {
  it('returns the shipped defaults, with paths made absolute against cwd', () => {
    const shipped = JSON.parse(readFileSync(new URL('../config/default.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    expect(load()).toEqual({ ...shipped, database: join(dir, 'callpay.db'), keyFile: join(dir, 'callpay.key') });
  });

  it('reads the file named by configPath, relative to cwd, deep-merged over the defaults', () => {
    write('etc/op.json', { http: { port: 9000 }, locale: 'en-US' });
    const config = load({}, 'etc/op.json');
    expect(config.http).toEqual({ host: '127.0.0.1', port: 9000, publicUrl: 'http://127.0.0.1:8080', trustedProxies: [] });
    expect(config.locale).toBe('en-US');
  });

  it('reads the file named by CALLPAY_CONFIG; configPath wins over it', () => {
    const fromEnv = write('env.json', { currency: 'USD' });
    const fromOption = write('option.json', { currency: 'EUR' });
    expect(load({ CALLPAY_CONFIG: fromEnv }).currency).toBe('USD');
    expect(load({ CALLPAY_CONFIG: fromEnv }, fromOption).currency).toBe('EUR');
  });

  it('reads ./callpay.json when nothing names a file', () => {
    write('callpay.json', { log: { level: 'debug' } });
    expect(load().log.level).toBe('debug');
  });

  it('applies environment overrides of numbers and strings over the file', () => {
    write('callpay.json', { http: { port: 9000, host: '0.0.0.0' } });
    const config = load({
      CALLPAY_HTTP_PORT: '8443',
      CALLPAY_HTTP_PUBLIC_URL: 'https://pay.example.net',
      CALLPAY_ARGON2_MEM_LIMIT_KIB: '65536',
      CALLPAY_MASTER_KEY: 'reserved, not config',
    });
    expect(config.http).toEqual({ host: '0.0.0.0', port: 8443, publicUrl: 'https://pay.example.net', trustedProxies: [] });
    expect(config.argon2.memLimitKiB).toBe(65536);
  });

  it('accepts port 0 (any free port) from the environment', () => {
    expect(load({ CALLPAY_HTTP_PORT: '0' }).http.port).toBe(0);
  });
});

describe('loadConfig paths', () => {
  it('resolves a relative path from the operator file against that file’s directory', () => {
    const file = write('etc/callpay/op.json', { database: 'data/pay.db', keyFile: '/srv/keys/callpay.key' });
    const config = load({}, file);
    expect(config.database).toBe(join(dir, 'etc/callpay/data/pay.db'));
    expect(config.keyFile).toBe('/srv/keys/callpay.key');
  });

  it('resolves a relative path from the environment against cwd', () => {
    write('etc/op.json', { database: 'from-file.db' });
    const config = load({ CALLPAY_CONFIG: 'etc/op.json', CALLPAY_DATABASE: 'var/env.db' });
    expect(config.database).toBe(join(dir, 'var/env.db'));
  });
});

describe('loadConfig rejects bad input with one config_invalid error', () => {
  it('an unknown key in the file', () => {
    const file = write('callpay.json', { http: { port: 8080, prot: 1 } });
    const error = expectInvalid(() => load(), 'http.prot');
    expect(error.message).toContain(file);
  });

  it('a "__proto__" key in the file, without touching Object.prototype', () => {
    write('callpay.json', '{"__proto__": {"polluted": true}}');
    expectInvalid(() => load(), '__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('an unknown CALLPAY_ environment variable', () => {
    expectInvalid(() => load({ CALLPAY_HTTP_PROT: '1' }), 'CALLPAY_HTTP_PROT');
  });

  it.each([
    ['CALLPAY_HTTP_PROT', 'CALLPAY_HTTP_PORT'],
    ['CALLPAY_DATABSE', 'CALLPAY_DATABASE'],
    ['CALLPAY_TELEPHONY_SIP_PASWORD', 'CALLPAY_TELEPHONY_SIP_PASSWORD'],
    ['CALLPAY_IVR_MAX_CALLS_PER_CONSUMER_PER_HR', 'CALLPAY_IVR_MAX_CALLS_PER_CONSUMER_PER_HOUR'],
    ['CALLPAY_MASTERKEY', 'CALLPAY_MASTER_KEY'],
  ])('a misspelt %s stops callpay and names the setting it resembles', (name, meant) => {
    const error = expectInvalid(() => load({ [name]: '1' }), name);
    expect(error.message).toContain(`did you mean ${meant}?`);
  });

  it("an unknown CALLPAY_ name that is no typo lists its section's settings and says the prefix is callpay's", () => {
    const error = expectInvalid(() => load({ CALLPAY_WEBHOOK_SECRET: 'whsec_abc' }), 'CALLPAY_WEBHOOK_SECRET');
    expect(error.message).not.toContain('did you mean');
    for (const name of ['CALLPAY_WEBHOOKS_TIMEOUT_MS', 'CALLPAY_WEBHOOKS_RETRY_FOR_HOURS', 'CALLPAY_WEBHOOKS_ROTATION_OVERLAP_HOURS']) expect(error.message).toContain(name);
    expect(error.message).toMatch(/another prefix/);
    expect(error.message).not.toContain('whsec_abc');
    const other = expectInvalid(() => load({ CALLPAY_SHOP_TOKEN: 'x' }), 'CALLPAY_SHOP_TOKEN');
    expect(other.message).toContain('CALLPAY_HTTP');
  });

  it('a misspelt key in the file names the key it resembles', () => {
    write('callpay.json', { http: { prot: 1 } });
    expect(expectInvalid(() => load(), 'http.prot').message).toContain('did you mean "port"?');
  });

  it.each(['abc', '80a', '', '8e3', '-1', ' 80'])('CALLPAY_HTTP_PORT=%j', (port) => {
    const error = expectInvalid(() => load({ CALLPAY_HTTP_PORT: port }), 'http.port');
    expect(error.message).toContain('CALLPAY_HTTP_PORT');
  });

  it('port 70000 in the file', () => {
    write('callpay.json', { http: { port: 70000 } });
    expectInvalid(() => load(), 'http.port');
  });

  it('a file that is not valid JSON', () => {
    const file = write('callpay.json', '{\n  "http": { "port": 1, }\n}');
    expectInvalid(() => load(), file);
  });

  it('a named file that does not exist, by configPath or CALLPAY_CONFIG', () => {
    expectInvalid(() => load({}, 'missing.json'), join(dir, 'missing.json'));
    expectInvalid(() => load({ CALLPAY_CONFIG: join(dir, 'gone.json') }), join(dir, 'gone.json'));
  });

  it('a bad locale', () => {
    expectInvalid(() => load({ CALLPAY_LOCALE: 'fr-FR' }), 'locale');
  });

  it('argon2.memLimitKiB below the OWASP minimum', () => {
    write('callpay.json', { argon2: { memLimitKiB: 4096 } });
    expectInvalid(() => load(), 'argon2.memLimitKiB');
  });

  it.each([
    [{ currency: 'twd' }, 'currency'],
    [{ currency: 'XYZ' }, 'currency'],
    [{ http: { publicUrl: 'ftp://pay.example.net' } }, 'http.publicUrl'],
    [{ http: { host: '' } }, 'http.host'],
    [{ argon2: { opsLimit: 1 } }, 'argon2.opsLimit'],
    [{ argon2: { workers: 2.5 } }, 'argon2.workers'],
    [{ log: 'debug' }, 'log'],
    [{ keyFile: '' }, 'keyFile'],
  ])('file %j', (content, field) => {
    write('callpay.json', content);
    expectInvalid(() => load(), field);
  });
});

describe('environment names', () => {
  it('every CALLPAY_ name in the README is one callpay accepts (merchant examples use their own prefix)', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const names = [...new Set([...readme.matchAll(/(?<![A-Za-z0-9_])CALLPAY_[A-Z0-9_]*[A-Z0-9]/g)].map((m) => m[0]))];
    expect(names.length).toBeGreaterThan(10);
    for (const name of names) {
      let error: unknown;
      try {
        load({ [name]: '1' });
      } catch (e) {
        error = e;
      }
      // A value may be refused ('1' is no database path…), but never the name itself.
      expect((error as CallpayError | undefined)?.field, name).not.toBe(name);
    }
    expect(readme).toMatch(/process\.env\.SHOP_CALLPAY_WEBHOOK_SECRET/);
  });

  it('derives CALLPAY_ names mechanically from the keys', () => {
    expect(envNameFor('database')).toBe('CALLPAY_DATABASE');
    expect(envNameFor('keyFile')).toBe('CALLPAY_KEY_FILE');
    expect(envNameFor('http.publicUrl')).toBe('CALLPAY_HTTP_PUBLIC_URL');
    expect(envNameFor('argon2.memLimitKiB')).toBe('CALLPAY_ARGON2_MEM_LIMIT_KI_B');
  });

  it('describes every key with its variable and default (the list documented in load.ts)', () => {
    const keys = describeConfigKeys();
    const names = keys.map((k) => k.env);
    expect(names).toEqual(expect.arrayContaining([
      'CALLPAY_DATABASE',
      'CALLPAY_KEY_FILE',
      'CALLPAY_LOG_LEVEL',
      'CALLPAY_HTTP_HOST',
      'CALLPAY_HTTP_PORT',
      'CALLPAY_HTTP_PUBLIC_URL',
      'CALLPAY_CURRENCY',
      'CALLPAY_LOCALE',
      'CALLPAY_ARGON2_OPS_LIMIT',
      'CALLPAY_ARGON2_MEM_LIMIT_KI_B',
      'CALLPAY_ARGON2_WORKERS',
      'CALLPAY_POLICY_CEILINGS_TWD_CALL_ALWAYS_ABOVE',
      'CALLPAY_TELEPHONY_ENGINE',
    ]));
    expect(new Set(names).size).toBe(names.length);
    expect(keys).toContainEqual({ key: 'http.port', env: 'CALLPAY_HTTP_PORT', default: 8080 });
  });

  it('accepts the mechanical name as well as its alias, but not both', () => {
    expect(load({ CALLPAY_ARGON2_MEM_LIMIT_KI_B: '32768' }).argon2.memLimitKiB).toBe(32768);
    expectInvalid(
      () => load({ CALLPAY_ARGON2_MEM_LIMIT_KI_B: '32768', CALLPAY_ARGON2_MEM_LIMIT_KIB: '65536' }),
      'argon2.memLimitKiB',
    );
  });
});
