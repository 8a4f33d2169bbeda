import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CallpayError } from '../src/domain/errors.js';
import { Keyring } from '../src/crypto/keyring.js';
import { createKeyFile, loadMasterKey } from '../src/crypto/master-key.js';
import { createSecretHasher, pepperKeyOf, type SecretHasher } from '../src/crypto/secret-hasher.js';

const MIN_PARAMS = { opsLimit: 2, memLimitKiB: 19456, workers: 2 };

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(CallpayError);
    return (e as CallpayError).code;
  }
  return 'no error';
}

const newKeyring = () => Keyring.fromMasterKey(new Uint8Array(randomBytes(32)));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'callpay-crypto-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('master key', () => {
  it('creates a 0600 key file and loads it', async () => {
    const path = join(dir, 'master.key');
    await createKeyFile(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, 'utf8')).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    expect((await loadMasterKey({ keyFile: path, env: {} })).length).toBe(32);
  });

  it('never overwrites an existing key file', async () => {
    const path = join(dir, 'master.key');
    await createKeyFile(path);
    const before = await readFile(path, 'utf8');
    expect(await codeOf(createKeyFile(path))).toBe('already_exists');
    expect(await readFile(path, 'utf8')).toBe(before);
  });

  it('refuses a missing, group/world-readable or malformed key file', async () => {
    const path = join(dir, 'master.key');
    expect(await codeOf(loadMasterKey({ keyFile: path, env: {} }))).toBe('key_missing');
    await createKeyFile(path);
    await chmod(path, 0o644);
    expect(await codeOf(loadMasterKey({ keyFile: path, env: {} }))).toBe('key_insecure');
    await writeFile(path, 'not a key\n', { mode: 0o600 });
    await chmod(path, 0o600);
    expect(await codeOf(loadMasterKey({ keyFile: path, env: {} }))).toBe('key_invalid');
  });

  it('prefers CALLPAY_MASTER_KEY (base64 or hex) over the key file', async () => {
    const key = randomBytes(32);
    const keyFile = join(dir, 'absent.key'); // would be key_missing if it were read
    for (const text of [key.toString('base64'), key.toString('hex')]) {
      const loaded = await loadMasterKey({ keyFile, env: { CALLPAY_MASTER_KEY: text } });
      expect(Buffer.from(loaded).equals(key)).toBe(true);
    }
  });

  it('rejects a bad CALLPAY_MASTER_KEY without echoing it', async () => {
    const keyFile = join(dir, 'absent.key');
    for (const bad of ['', 'abc', randomBytes(16).toString('base64'), randomBytes(33).toString('hex')]) {
      const err = await loadMasterKey({ keyFile, env: { CALLPAY_MASTER_KEY: bad } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CallpayError);
      expect((err as CallpayError).code).toBe('key_invalid');
      expect((err as CallpayError).field).toBe('CALLPAY_MASTER_KEY');
      if (bad) expect((err as CallpayError).message).not.toContain(bad);
    }
  });
});

describe('keyring', () => {
  const aad = 'consumers/phone/cons_abc123';

  it('seals and opens; the sealed bytes do not contain the plaintext', async () => {
    const ring = await newKeyring();
    const sealed = ring.seal('+441632960123', aad);
    expect(ring.open(sealed, aad)).toBe('+441632960123');
    expect(sealed.includes(Buffer.from('+441632960123'))).toBe(false);
    expect(ring.seal('+441632960123', aad).equals(sealed)).toBe(false); // random nonce
  });

  it('refuses a wrong aad, a tampered byte, another key or a truncated value', async () => {
    const ring = await newKeyring();
    const sealed = ring.seal('+441632960123', aad);
    expect(await codeOf(() => ring.open(sealed, 'consumers/phone/cons_other'))).toBe('key_invalid');
    for (const i of [0, 30, sealed.length - 1]) {
      const tampered = Buffer.from(sealed);
      tampered[i] = tampered[i]! ^ 1;
      expect(await codeOf(() => ring.open(tampered, aad))).toBe('key_invalid');
    }
    expect(await codeOf(async () => (await newKeyring()).open(sealed, aad))).toBe('key_invalid');
    expect(await codeOf(() => ring.open(sealed.subarray(0, 20), aad))).toBe('key_invalid');
  });

  it('blind index is deterministic and differs per kind and per key', async () => {
    const ring = await newKeyring();
    const a = ring.blindIndex('phone', '+441632960123');
    expect(a.length).toBe(32);
    expect(ring.blindIndex('phone', '+441632960123').equals(a)).toBe(true);
    expect(ring.blindIndex('login', '+441632960123').equals(a)).toBe(false);
    expect((await newKeyring()).blindIndex('phone', '+441632960123').equals(a)).toBe(false);
  });

  it('the same master key derives the same subkeys; pepper and token hash are stable', async () => {
    const master = new Uint8Array(randomBytes(32));
    const [r1, r2] = [await Keyring.fromMasterKey(master), await Keyring.fromMasterKey(master)];
    expect(r2.open(r1.seal('x', aad), aad)).toBe('x');
    expect(r1.pepper('482916').equals(r2.pepper('482916'))).toBe(true);
    expect(r1.pepper('482916').equals((await newKeyring()).pepper('482916'))).toBe(false);
    expect(r1.hashToken('cp_live_abc').toString('hex')).toMatch(/^[0-9a-f]{64}$/);
    expect(await codeOf(Keyring.fromMasterKey(new Uint8Array(16)))).toBe('key_invalid');
  });
});

describe('secret hasher', () => {
  let hasher: SecretHasher | undefined;
  afterEach(async () => {
    await hasher?.close();
    hasher = undefined;
  });

  it('hashes a PIN as argon2id over the pepper and verifies it', async () => {
    const ring = await newKeyring();
    hasher = createSecretHasher(ring, MIN_PARAMS);
    const stored = await hasher.hash('482916');
    expect(stored.startsWith(`${ring.currentId}:$argon2id$`)).toBe(true); // names the key whose pepper went in
    expect(stored).not.toContain('482916');
    expect(stored).not.toContain(ring.pepper('482916').toString('base64').replace(/=+$/, ''));
    expect(await hasher.verify('482916', stored)).toBe(true);
    expect(await hasher.verify('482917', stored)).toBe(false);
    expect(await hasher.hash('482916')).not.toBe(stored); // random salt
  });

  it('returns false for a malformed stored string or a hash under another key', async () => {
    hasher = createSecretHasher(await newKeyring(), MIN_PARAMS);
    const stored = await hasher.hash('482916');
    for (const bad of ['', 'garbage', '$argon2id$v=19$m=19456,t=2,p=1$xx', stored.replace('argon2id', 'argon2i')]) {
      expect(await hasher.verify('482916', bad)).toBe(false);
    }
    const other = createSecretHasher(await newKeyring(), MIN_PARAMS);
    // The pepper key is part of the hash. A hash naming a key not held is an operator's problem, not a wrong PIN.
    expect(await codeOf(other.verify('482916', stored))).toBe('key_missing');
    expect(await other.verify('482916', stored.replace(/^[0-9a-f]{16}:/, ''))).toBe(false);
    await other.close();
  });

  it('during a key rotation verifies hashes made under the previous key and asks for them to be made again', async () => {
    const k1 = new Uint8Array(randomBytes(32));
    const k2 = new Uint8Array(randomBytes(32));
    const before = createSecretHasher(await Keyring.fromMasterKey(k1), MIN_PARAMS);
    const tagged = await before.hash('482916');
    await before.close();
    const untagged = tagged.replace(/^[0-9a-f]{16}:/, ''); // as stored before hashes named their key
    const ring = await Keyring.fromMasterKey(k2, [k1]);
    hasher = createSecretHasher(ring, MIN_PARAMS);
    for (const stored of [tagged, untagged]) {
      expect(await hasher.verify('482916', stored)).toBe(true);
      expect(await hasher.verify('482917', stored)).toBe(false);
      expect(hasher.needsRehash(stored)).toBe(true);
    }
    const remade = await hasher.hash('482916');
    expect(pepperKeyOf(remade)).toBe(ring.currentId);
    expect(hasher.needsRehash(remade)).toBe(false);
    expect(await codeOf(Keyring.fromMasterKey(k2, [k2]))).toBe('key_invalid'); // the same key twice
  });

  it('answers 8 concurrent verifies correctly', async () => {
    hasher = createSecretHasher(await newKeyring(), MIN_PARAMS);
    const stored = await hasher.hash('482916');
    const pins = ['482916', '000000', '482916', '482917', '482916', '111111', '482916', '999999'];
    const results = await Promise.all(pins.map((pin) => hasher!.verify(pin, stored)));
    expect(results).toEqual(pins.map((pin) => pin === '482916'));
  });

  it('close() rejects queued work and later calls', async () => {
    hasher = createSecretHasher(await newKeyring(), { ...MIN_PARAMS, workers: 1 });
    const codes = Promise.all([hasher.hash('1'), hasher.hash('2'), hasher.hash('3')].map((p) => codeOf(p)));
    await hasher.close();
    expect(await codes).toEqual(['internal', 'internal', 'internal']);
    expect(await codeOf(hasher.verify('1', '$argon2id$'))).toBe('internal');
  });

  it('a dying worker rejects its job with internal and is replaced', async () => {
    const url = pathToFileURL(join(dir, 'dying-worker.mjs'));
    await writeFile(
      url,
      `import { parentPort } from 'node:worker_threads';
       parentPort.on('message', (m) => m.op === 'hash' ? process.exit(3) : parentPort.postMessage({ ok: true, value: true }));`,
    );
    hasher = createSecretHasher(await newKeyring(), { ...MIN_PARAMS, workers: 1 }, { workerUrl: url });
    expect(await codeOf(hasher.hash('482916'))).toBe('internal');
    expect(await hasher.verify('482916', 'x')).toBe(true);
  });

  it('rejects params below the OWASP minimum', async () => {
    const ring = await newKeyring();
    expect(await codeOf(() => createSecretHasher(ring, { ...MIN_PARAMS, opsLimit: 1 }))).toBe('config_invalid');
    expect(await codeOf(() => createSecretHasher(ring, { ...MIN_PARAMS, memLimitKiB: 19455 }))).toBe('config_invalid');
    expect(await codeOf(() => createSecretHasher(ring, { ...MIN_PARAMS, workers: 0 }))).toBe('config_invalid');
  });
});
