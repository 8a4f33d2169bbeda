import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/cli.js';
import { enrolPrepaid, type TestWorld } from './helpers/daemon.js';
import { Client, PASSWORD, checkoutWorld, createPayment, enterPassword, field, signIn } from './helpers/checkout.js';
import { Keyring } from '../src/crypto/keyring.js';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite-store.js';
import { AttemptLimiter, takeAll } from '../src/checkout/limiter.js';
import { startDaemon } from '../src/wiring/daemon.js';
import { buildPayLink } from '../src/checkout/index.js';
import { loadConfig } from '../src/config/load.js';

/**
 * The checkout's attempt limits live in the database (issue 10, defect 8): a restart forgives
 * nothing, keys are stored hashed, and the client address comes from X-Forwarded-For only when
 * the request came through a configured proxy.
 */
describe('attempt limiter on the store', () => {
  let dir: ReturnType<typeof tempDir>;
  let path: string;
  let keyring: Keyring;
  let now = 0;
  const open = () => openSqliteStore({ path, crypto: keyring, clock: () => new Date(now), cycleOf: () => '2026-11', webhookRetryForHours: 72 });
  let store: SqliteStore;

  beforeEach(async () => {
    dir = tempDir();
    path = join(dir.path, 'callpay.db');
    keyring = await Keyring.fromMasterKey(new Uint8Array(randomBytes(32)));
    now = Date.parse('2026-11-30T10:00:00Z');
    store = open();
  });
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  it('limits attempts in a sliding window, gives back a success, and survives a reopen', async () => {
    const limiter = new AttemptLimiter('password-login', { max: 3, windowMs: 1000 }, store);
    const taken = [];
    for (let i = 0; i < 4; i++) taken.push(await limiter.take('alice'));
    expect(taken).toEqual([true, true, true, false]);
    expect(await limiter.blocked('alice')).toBe(true);
    // A restart: a new store on the same file still sees the attempts.
    await store.close();
    store = open();
    const again = new AttemptLimiter('password-login', { max: 3, windowMs: 1000 }, store);
    expect(await again.blocked('alice'), 'a restart forgives nothing').toBe(true);
    expect(await new AttemptLimiter('login-login', { max: 3, windowMs: 1000 }, store).blocked('alice'), 'scopes are separate').toBe(false);
    now += 999;
    expect(await again.blocked('alice')).toBe(true);
    now += 2;
    expect(await again.blocked('alice'), 'the oldest attempts left the window').toBe(false);
    expect(await again.take('alice')).toBe(true);
    await again.refund('alice');
    expect([await again.take('alice'), await again.take('alice'), await again.take('alice')]).toEqual([true, true, true]);
    await again.clear('alice');
    expect(await again.blocked('alice')).toBe(false);
    // takeAll counts nothing when one key is blocked.
    const other = new AttemptLimiter('login-address', { max: 1, windowMs: 1000 }, store);
    for (let i = 0; i < 3; i++) await again.take('bob');
    expect(await takeAll([[other, '10.0.0.1'], [again, 'bob']])).toBe(false);
    expect(await other.blocked('10.0.0.1')).toBe(false);
    // Keys are keyed hashes: neither the login nor the address is in the file.
    const db = new Database(path, { readonly: true });
    try {
      const dump = JSON.stringify(db.prepare('SELECT scope, hex(key_hash) AS k FROM attempt_limits').all());
      expect(dump).not.toMatch(/alice|bob|10\.0\.0\.1/i);
      expect(dump).not.toContain(Buffer.from('alice').toString('hex').toUpperCase());
    } finally {
      db.close();
    }
  });

  it('is atomic under concurrent takes: exactly max of them pass', async () => {
    const limiter = new AttemptLimiter('password-login', { max: 5, windowMs: 60_000 }, store);
    const results = await Promise.all(Array.from({ length: 20 }, () => limiter.take('carol')));
    expect(results.filter(Boolean)).toHaveLength(5);
  });
});

describe('checkout limits over HTTP', () => {
  let w: TestWorld;
  afterEach(async () => w?.close());

  it('keeps the wrong-password limit across a daemon restart', async () => {
    ({ w } = await checkoutWorld());
    const p = await createPayment(w);
    const b = new Client(w.daemon.url);
    expect((await signIn(b, p, 'dora')).status).toBe(303);
    for (let i = 0; i < 5; i++) expect((await enterPassword(b, p, `wrong guess ${i}`)).location).toContain('error=password');
    // The daemon restarts on the same database (as `callpay serve` after a crash or an upgrade).
    await w.daemon.stop();
    w.daemon = await startDaemon(w.ctx, { authorizer: w.engine });
    const fresh = new Client(w.daemon.url);
    const page = await fresh.get(p.path);
    const blocked = await fresh.post(`/checkout/${p.id}/password`, { token: p.token, csrf: field(page.text, 'csrf'), password: PASSWORD });
    expect(blocked.status).toBe(429);
  });

  const qrPayment = async (t: TestWorld, b: Client, forwardedFor?: string) => {
    const link = buildPayLink(t.ctx.config.http.publicUrl, t.ctx.keyring, t.merchantId, { amount: 15000, currency: 'TWD' });
    const path = new URL(link).pathname + new URL(link).search;
    const headers = forwardedFor ? { 'x-forwarded-for': forwardedFor } : undefined;
    const landing = await b.get(path, headers);
    const made = await b.post(path, { csrf: field(landing.text, 'csrf') }, headers);
    expect(made.status).toBe(303);
    const url = new URL(made.location ?? '', t.daemon.url);
    return { id: url.pathname.split('/').pop() ?? '', token: url.searchParams.get('token') ?? '', path: `${url.pathname}${url.search}` };
  };

  it('believes X-Forwarded-For only from a trusted proxy, for the per-address limits', async () => {
    w = (await checkoutWorld({ CALLPAY_HTTP_TRUSTED_PROXIES: '127.0.0.1' })).w;
    // Through the trusted proxy, each consumer's own address counts: 5 QR calls per address per hour.
    for (let i = 0; i < 5; i++) {
      w.engine.script.push({ kind: 'declined' });
      const b = new Client(w.daemon.url);
      const p = await qrPayment(w, b, '203.0.113.7');
      const page = await b.get(p.path, { 'x-forwarded-for': '203.0.113.7' });
      const r = await b.post(`/checkout/${p.id}/login`, { token: p.token, csrf: field(page.text, 'csrf'), login: 'alice' }, { 'x-forwarded-for': '203.0.113.7' });
      expect(r.status, `call ${i + 1}`).toBe(303);
    }
    const b = new Client(w.daemon.url);
    const sixth = await qrPayment(w, b, '203.0.113.7');
    const page = await b.get(sixth.path, { 'x-forwarded-for': '203.0.113.7' });
    const refused = await b.post(`/checkout/${sixth.id}/login`, { token: sixth.token, csrf: field(page.text, 'csrf'), login: 'alice' }, { 'x-forwarded-for': '203.0.113.7' });
    expect(refused.status, 'a sixth QR call from one address within the hour').toBe(429);
    // Another client behind the same proxy is not blocked by the first one's attempts.
    const other = new Client(w.daemon.url);
    const q = await qrPayment(w, other, '198.51.100.9');
    w.engine.script.push({ kind: 'declined' });
    const otherPage = await other.get(q.path, { 'x-forwarded-for': '198.51.100.9' });
    expect((await other.post(`/checkout/${q.id}/login`, { token: q.token, csrf: field(otherPage.text, 'csrf'), login: 'alice' }, { 'x-forwarded-for': '198.51.100.9' })).status).toBe(303);
  });

  it('ignores X-Forwarded-For from anyone else: a client cannot pick a fresh address per try', async () => {
    w = (await checkoutWorld()).w;
    for (let i = 0; i < 5; i++) {
      w.engine.script.push({ kind: 'declined' });
      const b = new Client(w.daemon.url);
      const p = await qrPayment(w, b, `203.0.113.${i + 1}`);
      const page = await b.get(p.path, { 'x-forwarded-for': `203.0.113.${i + 1}` });
      expect((await b.post(`/checkout/${p.id}/login`, { token: p.token, csrf: field(page.text, 'csrf'), login: 'alice' }, { 'x-forwarded-for': `203.0.113.${i + 1}` })).status).toBe(303);
    }
    const b = new Client(w.daemon.url);
    const p = await qrPayment(w, b, '203.0.113.99');
    const page = await b.get(p.path, { 'x-forwarded-for': '203.0.113.99' });
    expect((await b.post(`/checkout/${p.id}/login`, { token: p.token, csrf: field(page.text, 'csrf'), login: 'alice' }, { 'x-forwarded-for': '203.0.113.99' })).status).toBe(429);
  });

  it('counts only QR sign-ins that placed a call', async () => {
    w = (await checkoutWorld()).w;
    await enrolPrepaid(w, 'poor.paul', '0');
    for (let i = 0; i < 7; i++) {
      const b = new Client(w.daemon.url);
      const p = await qrPayment(w, b);
      const page = await b.get(p.path);
      // Declined before any call (no funds): nothing rang, nothing counted.
      expect((await b.post(`/checkout/${p.id}/login`, { token: p.token, csrf: field(page.text, 'csrf'), login: 'poor.paul' })).status).toBe(303);
    }
  });
});

describe('http.trustedProxies', () => {
  it('takes addresses, CIDR ranges and keywords, comma-separated from the environment; refuses anything else naming the key', () => {
    const cwd = tempDir();
    try {
      const load = (value: string) => loadConfig({ cwd: cwd.path, env: { CALLPAY_HTTP_TRUSTED_PROXIES: value } });
      expect(load('10.0.0.0/8, 192.0.2.1,loopback, 2001:db8::/32').http.trustedProxies).toEqual(['10.0.0.0/8', '192.0.2.1', 'loopback', '2001:db8::/32']);
      expect(load('').http.trustedProxies).toEqual([]);
      for (const bad of ['proxy.example', '10.0.0.0/33', '10.0.0.1/8/8', '*']) {
        expect(() => load(bad), bad).toThrow(expect.objectContaining({ code: 'config_invalid', field: expect.stringContaining('http.trustedProxies') }));
      }
    } finally {
      cwd.remove();
    }
  });
});
