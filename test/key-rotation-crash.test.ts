import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring } from '../src/crypto/keyring.js';
import { loadMasterKey } from '../src/crypto/master-key.js';
import { pepperKeyOf } from '../src/crypto/secret-hasher.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import { aad } from '../src/store/field-crypto.js';
import { systemClock } from '../src/domain/clock.js';
import { jsonOf, runCli, tempDir } from './helpers/cli.js';
import { killAtExit, within } from './helpers/child.js';

const BIN = fileURLToPath(new URL('../bin/callpay.js', import.meta.url));
const CONSUMERS = 240;
const UNTAGGED_HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

/** Sealed columns with their AAD name and the blind index kept beside them. */
const SEALED: Array<{ table: string; column: string; aadName: string; index?: [string, string] }> = [
  { table: 'consumers', column: 'login_sealed', aadName: 'login', index: ['login_index', 'login'] },
  { table: 'consumers', column: 'phone_sealed', aadName: 'phone', index: ['phone_index', 'phone'] },
  { table: 'consumers', column: 'national_id_sealed', aadName: 'national_id' },
  { table: 'consumers', column: 'address_sealed', aadName: 'address' },
  { table: 'billable_accounts', column: 'number_sealed', aadName: 'number', index: ['number_index', 'account_number'] },
  { table: 'webhook_secrets', column: 'secret_sealed', aadName: 'secret' },
];

/** A deterministic generator, so a failing kill schedule can be replayed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/**
 * Issue 13, item 6: `callpay key rotate` killed (SIGKILL) at random moments, then run again, leaves
 * every sealed value, index, PIN hash and the canary under exactly one key, and ends with all of them
 * under the new one.
 */
describe('key rotation survives SIGKILL at any point', () => {
  const dir = tempDir();
  const db = join(dir.path, 'callpay.db');
  const k1File = join(dir.path, 'k1.key');
  const k2File = join(dir.path, 'k2.key');
  const oldEnv = { CALLPAY_DATABASE: db, CALLPAY_KEY_FILE: k1File };
  const bothEnv = { CALLPAY_DATABASE: db, CALLPAY_KEY_FILE: k2File, CALLPAY_PREVIOUS_KEY_FILES: k1File };
  const newEnv = { CALLPAY_DATABASE: db, CALLPAY_KEY_FILE: k2File };
  let only1: Keyring;
  let only2: Keyring;
  /** Consumer whose number changed after a dial: that dial's number cannot be re-keyed. */
  let movedConsumer = '';

  beforeAll(async () => {
    for (const f of [k1File, k2File]) expect((await runCli(['key', 'new', '--out', f], { cwd: dir.path })).code).toBe(0);
    only1 = await Keyring.fromMasterKey(await loadMasterKey({ keyFile: k1File, env: {} }));
    only2 = await Keyring.fromMasterKey(await loadMasterKey({ keyFile: k2File, env: {} }));
    const store = openSqliteStore({ path: db, crypto: only1, clock: systemClock, cycleOf: () => '2026-11', webhookRetryForHours: 24 });
    try {
      const merchants: string[] = [];
      for (let m = 0; m < 6; m += 1) {
        const { merchant } = await store.merchants.add({ displayName: `Shop ${m}`, spokenName: `Shop ${m}`, webhookUrl: 'https://shop.example/hook' });
        await store.webhookSecrets.create(merchant.id);
        merchants.push(merchant.id);
      }
      const policy = { passwordAbove: 0, callAbove: 0, frictionlessAmount: null, frictionlessCount: null };
      for (let i = 0; i < CONSUMERS; i += 1) {
        const c = await store.consumers.add({ login: `user${i}@example.com`, phone: `+8869${String(10_000_000 + i)}`, nationalId: `A1${String(i).padStart(8, '0')}`, address: `No. ${i}, Lane 3`, locale: 'en-US', pinHash: UNTAGGED_HASH, passwordHash: i % 3 === 0 ? UNTAGGED_HASH : null, policy });
        await store.accounts.add({ consumerId: c.id, kind: 'mobile', number: `09${String(20_000_000 + i)}`, plan: 'prepaid', currency: 'TWD', creditLimit: null, makeDefault: true });
        if (i < 30) {
          const payment = await store.payments.insert({ id: `pay_dial${i}`, merchantId: merchants[i % merchants.length]!, amount: 100, currency: 'TWD', reference: `order-${i}`, description: 'test', returnUrl: 'https://shop.example/done', metadata: {}, expiresAt: new Date(Date.now() + 600_000).toISOString(), live: false }, 'requires_consumer', 'test');
          await store.dials.record({ paymentId: payment.id, attempt: 1, consumerId: c.id, merchantId: merchants[i % merchants.length]!, number: c.phone });
        }
        if (i === 0) movedConsumer = c.id;
      }
      await store.consumers.update(movedConsumer, { phone: '+886987654321' });
      await store.audit.append({ actor: 'test', action: 'consumer.add', subject: movedConsumer, details: { fields: ['login'] } });
    } finally {
      await store.close();
    }
  }, 120_000);
  afterAll(() => dir.remove());

  /** For every stored value: which of the two keys it is under (exactly one, or the test fails). */
  function keysOfEveryValue(): { k1: number; k2: number } {
    const conn = new Database(db, { readonly: true });
    const seen = { k1: 0, k2: 0 };
    const under = (open: (k: Keyring) => unknown, what: string): Keyring => {
      const ok = [only1, only2].filter((k) => {
        try {
          open(k);
          return true;
        } catch {
          return false;
        }
      });
      expect(ok.length, `${what}: opens under ${ok.length} keys`).toBe(1);
      seen[ok[0] === only1 ? 'k1' : 'k2'] += 1;
      return ok[0]!;
    };
    try {
      for (const s of SEALED) {
        for (const row of conn.prepare(`SELECT * FROM ${s.table}`).all() as Array<Record<string, Buffer> & { id: string }>) {
          const where = aad(s.table, s.aadName, row.id);
          const key = under((k) => k.open(row[s.column]!, where), `${s.table}.${s.column} ${row.id}`);
          if (s.index) expect(row[s.index[0]]!.equals(key.blindIndex(s.index[1], key.open(row[s.column]!, where))), `${s.table}.${s.index[0]} ${row.id}`).toBe(true);
        }
      }
      for (const h of conn.prepare('SELECT pin_hash AS p, password_hash AS w FROM consumers').all() as Array<{ p: string; w: string | null }>) {
        for (const stored of [h.p, h.w]) if (stored !== null) expect([null, only1.currentId, only2.currentId]).toContain(pepperKeyOf(stored));
      }
      const canary = conn.prepare("SELECT value FROM meta WHERE name = 'key_check'").pluck().get() as Buffer;
      under((k) => k.open(canary, 'meta/value/key_check'), 'canary');
      const dials = conn.prepare('SELECT d.number_index AS i, c.phone_sealed AS p, c.id AS cid FROM dials d JOIN consumers c ON c.id = d.consumer_id').all() as Array<{ i: Buffer | null; p: Buffer; cid: string }>;
      for (const d of dials) {
        if (d.i === null) continue;
        const phone = [only1, only2].map((k) => { try { return k.open(d.p, aad('consumers', 'phone', d.cid)); } catch { return null; } }).find((p) => p !== null)!;
        const matches = [only1, only2].filter((k) => k.blindIndex('phone', phone).equals(d.i!)).length;
        if (d.cid !== movedConsumer) expect(matches, `dial of ${d.cid}`).toBe(1);
      }
    } finally {
      conn.close();
    }
    return seen;
  }

  /**
   * Runs `key rotate` as its own process; with `killAfterBatches`, SIGKILLs it once it has reported
   * that many batches written (0: as soon as it starts). The signal lands wherever the process has
   * got to by then: between batches, inside one, or in the final steps.
   */
  async function rotateChild(killAfterBatches: number | null): Promise<void> {
    const child = spawn(process.execPath, [BIN, 'key', 'rotate', '--batch-size', '2', '--progress', '--json'], { cwd: dir.path, env: { PATH: process.env.PATH, ...bothEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    killAtExit(child, exited);
    let stderr = '';
    let batches = 0;
    const kill = () => killAfterBatches !== null && batches >= killAfterBatches && child.kill('SIGKILL');
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      batches = (stderr.match(/^key rotate: /gm) ?? []).length;
      kill();
    });
    kill();
    expect(await within(exited, 60_000), 'rotate did not end within 60 s').toBe(true);
    const [code, sig] = await exited;
    if (killAfterBatches === null) expect(code, stderr).toBe(0);
    else expect(code === 0 || sig === 'SIGKILL', stderr).toBe(true);
  }

  it('is killed mid-pass several times, stays consistent, and finishes on the rerun', async () => {
    expect(keysOfEveryValue()).toMatchObject({ k2: 0 });
    const random = lcg(20261130);
    let mixed = 0;
    // Roughly (consumers + accounts + secrets + dials) / 2 batches in a whole pass.
    const batchesInPass = (2 * CONSUMERS + 36) / 2;
    for (let kill = 0; kill < 8; kill += 1) {
      await rotateChild(kill === 0 ? 0 : Math.floor(random() * batchesInPass * 0.6));
      const seen = keysOfEveryValue();
      if (seen.k1 > 0 && seen.k2 > 0) mixed += 1;
    }
    // The schedule must have caught the rotation part-way at least once, or it tested nothing.
    expect(mixed).toBeGreaterThan(0);
    await rotateChild(null);
    expect(keysOfEveryValue()).toMatchObject({ k1: 0 });

    const status = jsonOf<{ currentKey: string; databaseKey: string; pending: object; secretHashes: Record<string, number>; dialsWithoutNumber: number }>(
      await runCli(['key', 'status', '--json'], { cwd: dir.path, env: newEnv }),
    );
    expect(status.databaseKey).toBe(only2.currentId);
    expect(status.pending).toEqual({});
    // PINs cannot be re-hashed without the PIN: tagged with the old key, they move at the next entry.
    expect(status.secretHashes).toEqual({ [only1.currentId]: CONSUMERS + CONSUMERS / 3 });
    expect(status.dialsWithoutNumber).toBe(1);

    // The old key is gone: the database still opens, the audit chain still verifies (the rotation's
    // checkpoint vouches for the entries MACed under the old key), and the old key alone is refused.
    expect((await runCli(['audit', 'verify'], { cwd: dir.path, env: newEnv })).code).toBe(0);
    const entries = jsonOf<Array<{ action: string; details: Record<string, unknown> }>>(await runCli(['audit', 'list', '--json', '--limit', '1000'], { cwd: dir.path, env: newEnv }));
    // Each run records its start; each that got to the end (some killed ones did) records its end.
    const rotations = entries.filter((e) => e.action === 'key.rotate').map((e) => e.details.phase);
    expect(rotations.filter((p) => p === 'started').length).toBeGreaterThanOrEqual(8); // the first kill may land before its start
    expect(rotations.filter((p) => p === 'completed').length).toBeGreaterThanOrEqual(1);
    expect(rotations.at(-1)).toBe('completed');
    const refused = await runCli(['key', 'status'], { cwd: dir.path, env: oldEnv });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/does not match the database/);
  }, 240_000);

  it('finds an entry made under the old key and edited after it was dropped', async () => {
    const conn = new Database(db);
    try {
      conn.exec('DROP TRIGGER IF EXISTS audit_log_append_only_u');
      conn.prepare("UPDATE audit_log SET details = '{\"fields\":[\"address\"]}' WHERE seq = 1").run();
    } finally {
      conn.close();
    }
    const r = await runCli(['audit', 'verify', '--json'], { cwd: dir.path, env: newEnv });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, brokenAt: 1, reason: 'changed' });
  });
});
