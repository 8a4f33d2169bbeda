import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { arrivals, waitFor } from './helpers/wait.js';
import { lockWaiters } from './helpers/stores.js';
import { describe, expect, it } from 'vitest';
import { Keyring } from '../src/crypto/keyring.js';
import { DEFAULT_POLICY } from '../src/domain/consumer.js';
import type { Store } from '../src/payments/repositories.js';
import { tempDir } from './helpers/cli.js';
import { DRIVERS, T0, at, consumerInput, decided, merchantInput, payment, time, useContractWorld } from './helpers/contract-a.js';

/**
 * The repository contract, part A (payments, consumers, merchants, webhook secrets, the transaction
 * port; the outbox and audit half is in store-contract-a-outbox.test.ts): the same bodies against the
 * SQLite store and the PostgreSQL store. "Two nodes" are two PostgreSQL stores with their own pools on
 * one database; on SQLite, two callers of one store (one process, one connection). The concurrency
 * cases are where PostgreSQL needs its own locking to give what SQLite's single writer gives for free.
 */

const world = useContractWorld();

describe.each(DRIVERS)('store contract A (%s)', (driver) => {
  const { open, another, withMerchant, cluster } = world(driver);

  describe('payments', () => {
    it('inserts, finds, hides other merchants\' payments and pages newest first', async () => {
      const s = await open();
      const [m1, m2] = [await withMerchant(s), await withMerchant(s)];
      const p = await s.payments.insert(payment(m1), 'requires_consumer', 'created');
      expect(p).toMatchObject({ merchantId: m1, amount: 500, status: 'requires_consumer', metadata: { cart: '7' }, live: true, amountRefunded: 0, decision: null, createdAt: at(0) });
      expect(await s.payments.get(p.id)).toEqual(p);
      expect(await s.payments.find('pay_missing')).toBeUndefined();
      await expect(s.payments.get('pay_missing')).rejects.toMatchObject({ code: 'not_found', field: 'payment' });
      await expect(s.payments.getForMerchant(m2, p.id)).rejects.toMatchObject({ code: 'not_found', field: 'id' });
      const more = [await s.payments.insert(payment(m1, { reference: 'order-2' }), 'requires_consumer', 'created'), await s.payments.insert(payment(m1), 'calling', 'called')];
      const ids = (list: Array<{ id: string }>) => list.map((x) => x.id);
      expect(ids(await s.payments.list(m1, { limit: 10 }))).toEqual([more[1]!.id, more[0]!.id, p.id]);
      expect(ids(await s.payments.list(m1, { limit: 1, before: more[1]!.id }))).toEqual([more[0]!.id]);
      expect(ids(await s.payments.list(m1, { limit: 10, reference: 'order-1', status: 'requires_consumer' }))).toEqual([p.id]);
      expect(await s.payments.list(m2, { limit: 10 })).toEqual([]);
      expect(await s.payments.transitions(more[1]!.id)).toEqual([{ fromStatus: null, toStatus: 'calling', reason: 'called', createdAt: at(0) }]);
    });

    it('moves by the state machine with a patch, records each move, and refuses the rest', async () => {
      const s = await open();
      const m = await withMerchant(s);
      const c = await s.consumers.add(consumerInput());
      const p = await s.payments.insert(payment(m), 'requires_consumer', 'created');
      time.now += 1000;
      const moved = await s.payments.transition(p.id, 'calling', 'identified', { consumerId: c.id, decision: decided(['call']), live: false }, ['requires_consumer']);
      expect(moved).toMatchObject({ status: 'calling', consumerId: c.id, decision: decided(['call']), live: false, updatedAt: at(1000) });
      await expect(s.payments.transition(p.id, 'canceled', 'too late')).rejects.toMatchObject({ code: 'invalid_state', field: 'status' });
      await expect(s.payments.transition(p.id, 'succeeded', 'x', {}, ['requires_consumer'])).rejects.toMatchObject({ code: 'invalid_state' });
      await expect(s.payments.transition('pay_missing', 'succeeded', 'x')).rejects.toMatchObject({ code: 'not_found' });
      expect((await s.payments.markAuthorized(p.id, 'pin ok')).authorizedAt).toBe(at(1000));
      const done = await s.payments.transition(p.id, 'succeeded', 'charged', { failureCode: 'busy' });
      expect(done).toMatchObject({ status: 'succeeded', failureCode: 'busy', authorizedAt: at(1000) });
      await expect(s.payments.markAuthorized(p.id, 'again')).rejects.toMatchObject({ code: 'invalid_state', field: 'status' });
      await expect(s.payments.markAuthorized('pay_missing', 'x')).rejects.toMatchObject({ code: 'not_found' });
      expect((await s.payments.transition(p.id, 'partially_refunded', 'refund', { amountRefunded: 200 })).amountRefunded).toBe(200);
      await s.payments.markNotLive(p.id);
      expect((await s.payments.transitions(p.id)).map((t) => `${t.fromStatus}>${t.toStatus}:${t.reason}`)).toEqual([
        'null>requires_consumer:created', 'requires_consumer>calling:identified', 'calling>calling:pin ok', 'calling>succeeded:charged', 'succeeded>partially_refunded:refund',
      ]);
      await s.payments.insertRefund('re_2', p.id, 100, null);
      await s.payments.insertRefund('re_1', p.id, 200, 'damaged');
      expect(await s.payments.refunds(p.id)).toEqual([{ id: 're_1', amount: 200, reason: 'damaged', createdAt: at(1000) }, { id: 're_2', amount: 100, reason: null, createdAt: at(1000) }]);
    });

    it('finds what is due to expire, what is calling, calls started, and frictionless usage', async () => {
      const s = await open();
      const m = await withMerchant(s);
      const c = await s.consumers.add(consumerInput());
      const open1 = await s.payments.insert(payment(m, { expiresAt: at(-1) }), 'requires_consumer', 'created');
      const call = await s.payments.insert(payment(m, { expiresAt: at(-60_000) }), 'requires_consumer', 'created');
      await s.payments.insert(payment(m), 'requires_consumer', 'created');
      await s.payments.transition(call.id, 'calling', 'calling', { consumerId: c.id });
      await s.payments.markAuthorized(call.id, 'pin ok');
      expect((await s.payments.dueForExpiry(new Date(T0), 120_000)).map((p) => p.id)).toEqual([open1.id]);
      expect((await s.payments.dueForExpiry(new Date(T0), 30_000)).map((p) => p.id)).toEqual([call.id, open1.id]);
      expect((await s.payments.calling()).map((p) => p.id)).toEqual([call.id]);
      expect(await s.payments.callsStartedSince({ consumerId: c.id }, new Date(T0 - 1))).toBe(1);
      expect(await s.payments.callsStartedSince({ merchantId: m }, new Date(T0 - 1))).toBe(1);
      expect(await s.payments.callsStartedSince({ merchantId: m }, new Date(T0))).toBe(0);
      const succeed = async (amount: number, steps: Array<'password' | 'call'>) => {
        const p = await s.payments.insert(payment(m, { amount }), 'requires_consumer', 'created');
        await s.payments.transition(p.id, 'succeeded', 'ok', { consumerId: c.id, decision: decided(steps) });
      };
      expect(await s.payments.frictionlessUsage(c.id)).toEqual({ amount: 0, count: 0 });
      await succeed(1000, []);
      await succeed(50, ['call']);
      await succeed(100, []);
      await succeed(200, ['password']);
      expect(await s.payments.frictionlessUsage(c.id)).toEqual({ amount: 300, count: 2 });
    });

    it('leases a call to one node at a time, renews only its own leases, and finds calls whose node stopped', async () => {
      const a = await open();
      const b = await another(a);
      const m = await withMerchant(a);
      const call = await a.payments.insert(payment(m), 'calling', 'called');
      const other = await a.payments.insert(payment(m), 'calling', 'called');
      const waiting = await a.payments.insert(payment(m), 'requires_consumer', 'created');
      expect(await a.payments.leaseCall(waiting.id, 'n1', at(30_000), at(0))).toBe(false);
      const takes = await Promise.all([a, b, a, b].map((s, i) => s.payments.leaseCall(call.id, `n${i}`, at(30_000), at(0))));
      expect(takes.filter(Boolean)).toHaveLength(1);
      const owner = `n${takes.indexOf(true)}`;
      expect(await a.payments.leaseCall(call.id, owner, at(60_000), at(10_000))).toBe(true);
      expect(await b.payments.leaseCall(call.id, 'intruder', at(90_000), at(59_999))).toBe(false);
      expect(await b.payments.renewCallLeases('intruder', [call.id], at(90_000))).toEqual([]);
      expect(await a.payments.renewCallLeases(owner, [other.id, call.id, 'pay_missing'], at(90_000))).toEqual([call.id]);
      expect(await a.payments.renewCallLeases(owner, [], at(90_000))).toEqual([]);
      expect((await a.payments.abandonedCalls(at(60_000), at(-1))).map((p) => p.id)).toEqual([]);
      expect((await a.payments.abandonedCalls(at(60_000), at(1))).map((p) => p.id)).toEqual([other.id]);
      expect((await a.payments.abandonedCalls(at(90_001), at(1))).map((p) => p.id)).toEqual([call.id, other.id]);
      expect(await b.payments.leaseCall(call.id, 'survivor', at(120_000), at(90_001))).toBe(true);
    });

    it('drops the call lease when the payment goes back from the call step (to the password step), so another node may call next', async () => {
      const a = await open();
      const b = await another(a);
      const m = await withMerchant(a);
      const p = await a.payments.insert(payment(m), 'calling', 'called');
      expect(await a.payments.leaseCall(p.id, 'n1', at(30_000), at(0))).toBe(true);
      await a.payments.transition(p.id, 'requires_password', 'the risk check asks for the password');
      await a.payments.transition(p.id, 'calling', 'password entered');
      expect(await b.payments.leaseCall(p.id, 'n2', at(40_000), at(1_000))).toBe(true);
    });

    it('lets only one of two nodes move a payment from the status both read', async () => {
      const a = await open();
      const b = await another(a);
      const p = await a.payments.insert(payment(await withMerchant(a)), 'requires_consumer', 'created');
      // PostgreSQL: all four transactions are open before any moves (SQLite runs them one after another).
      const meet = arrivals(driver === 'postgres' ? 4 : 1);
      const tries = [a, b, a, b].map((s, i) => s.withTransaction(async (tx) => {
        await meet.arrive();
        return tx.payments.transition(p.id, i % 2 ? 'canceled' : 'expired', `by ${i}`, {}, ['requires_consumer']);
      }));
      const settled = await Promise.allSettled(tries);
      expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of settled) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'invalid_state' });
      expect(await a.payments.transitions(p.id)).toHaveLength(2);
    });
  });


  describe('consumers', () => {
    it('enrols with sealed data, finds by login and phone, changes, and keeps secrets as hashes', async () => {
      const s = await open();
      const c = await s.consumers.add(consumerInput());
      expect(c).toMatchObject({ login: 'alice', phone: '+886912345678', locale: 'en-US', status: 'active', hasPassword: false, policy: DEFAULT_POLICY });
      await expect(s.consumers.add(consumerInput('alice', '+886900000000'))).rejects.toMatchObject({ code: 'already_exists', field: 'login' });
      const bob = await s.consumers.add(consumerInput('bob'));
      expect((await s.consumers.findByLogin('alice'))?.id).toBe(c.id);
      expect(await s.consumers.findByLogin('carol')).toBeUndefined();
      expect((await s.consumers.findByPhone('+886912345678')).map((x) => x.id)).toEqual([c.id, bob.id]);
      expect((await s.consumers.list({ limit: 1 })).map((x) => x.id)).toEqual([[c.id, bob.id].sort()[0]]);
      time.now += 5000;
      const changed = await s.consumers.update(c.id, { phone: '+886911111111', address: 'No. 9', locale: 'zh-TW' });
      expect(changed).toMatchObject({ phone: '+886911111111', address: 'No. 9', nationalId: 'A123456789', locale: 'zh-TW', updatedAt: at(5000) });
      expect((await s.consumers.findByPhone('+886911111111')).map((x) => x.id)).toEqual([c.id]);
      expect(await s.consumers.update(c.id, {})).toEqual(changed);
      const policy = { passwordAbove: 100, callAbove: 200, frictionlessAmount: 300, frictionlessCount: 2 };
      expect((await s.consumers.setPolicy(c.id, policy)).policy).toEqual(policy);
      expect((await s.consumers.setStatus(c.id, 'locked')).status).toBe('locked');
      expect((await s.consumers.list({ status: 'locked', limit: 10 })).map((x) => x.id)).toEqual([c.id]);
      await s.consumers.setPinHash(c.id, 'pin-hash-2');
      await s.consumers.setPasswordHash(c.id, 'pw-hash-1');
      expect([await s.consumers.pinHash(c.id), await s.consumers.passwordHash(c.id), (await s.consumers.get(c.id)).hasPassword]).toEqual(['pin-hash-2', 'pw-hash-1', true]);
      expect(await s.consumers.replaceSecretHash(c.id, 'pin', 'pin-hash-1', 'pin-hash-3')).toBe(false);
      expect(await s.consumers.replaceSecretHash(c.id, 'pin', 'pin-hash-2', 'pin-hash-3')).toBe(true);
      expect(await s.consumers.replaceSecretHash(c.id, 'password', 'pw-hash-1', 'pw-hash-2')).toBe(true);
      expect([await s.consumers.pinHash(c.id), await s.consumers.passwordHash(c.id)]).toEqual(['pin-hash-3', 'pw-hash-2']);
      for (const call of [
        () => s.consumers.get('cons_x'), () => s.consumers.update('cons_x', { address: 'a' }), () => s.consumers.setStatus('cons_x', 'closed'),
        () => s.consumers.setPinHash('cons_x', 'h'), () => s.consumers.setPasswordHash('cons_x', null), () => s.consumers.pinHash('cons_x'), () => s.consumers.passwordHash('cons_x'),
      ]) await expect(call()).rejects.toMatchObject({ code: 'not_found', field: 'consumer' });
      expect(await s.consumers.find('cons_x')).toBeUndefined();
    });

    it('during a key rotation finds and refuses logins indexed under the previous key', async () => {
      const [k1, k2] = [randomBytes(32), randomBytes(32)];
      const s1 = await open({ crypto: await Keyring.fromMasterKey(new Uint8Array(k1)) });
      const c = await s1.consumers.add(consumerInput());
      const s2 = await open({ at: s1.location, crypto: await Keyring.fromMasterKey(new Uint8Array(k2), [new Uint8Array(k1)]) });
      expect((await s2.consumers.findByLogin('alice'))?.id).toBe(c.id);
      expect((await s2.consumers.findByPhone('+886912345678')).map((x) => x.id)).toEqual([c.id]);
      await expect(s2.consumers.add(consumerInput())).rejects.toMatchObject({ code: 'already_exists' });
    });

    it('enrols one login once when two nodes add it at the same moment, and a caught refusal leaves the transaction usable', async () => {
      const a = await open();
      const b = await another(a);
      const settled = await Promise.allSettled([a, b, a, b].map((s) => s.consumers.add(consumerInput('dave'))));
      expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of settled) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'already_exists' });
      await a.withTransaction(async (tx) => {
        await expect(tx.consumers.add(consumerInput('dave'))).rejects.toMatchObject({ code: 'already_exists' });
        await tx.consumers.add(consumerInput('erin'));
      });
      expect((await a.consumers.findByLogin('erin'))?.login).toBe('erin');
    });

    it('enrols one login once when a node still on the old key and one on the new key add it at once', async () => {
      const [k1, k2] = [new Uint8Array(randomBytes(32)), new Uint8Array(randomBytes(32))];
      const oldNode = await open({ crypto: await Keyring.fromMasterKey(k1) });
      const newNode = await open({ at: oldNode.location, crypto: await Keyring.fromMasterKey(k2, [k1]) });
      // The old node's enrolment is still uncommitted when the new node (whose index differs) looks.
      let added!: () => void;
      const first = new Promise<void>((r) => { added = r; });
      const byOld = oldNode.withTransaction(async (tx) => {
        await tx.consumers.add(consumerInput('zoe'));
        added();
        // Stay uncommitted until the new node's enrolment is seen waiting on our lock.
        if (driver === 'postgres') await waitFor('the new node to wait on the login lock', async () => (await lockWaiters(newNode)) > 0);
      });
      // SQLite: two connections of one process cannot hold overlapping transactions, so one after the other.
      if (driver === 'sqlite') await byOld;
      await first;
      await expect(newNode.consumers.add(consumerInput('zoe'))).rejects.toMatchObject({ code: 'already_exists' });
      await byOld;
    });
  });


  describe('merchants and webhook secrets', () => {
    it('adds, lists, rotates and revokes keys, finds by an active key only', async () => {
      const s = await open();
      const { merchant, key } = await s.merchants.add(merchantInput('Night Market', 'https://shop.example/hook'));
      expect(merchant).toMatchObject({ displayName: 'Night Market', webhookUrl: 'https://shop.example/hook', voiceClip: null, status: 'active', createdAt: at(0) });
      expect((await s.merchants.findByApiKey(key.apiKey))?.id).toBe(merchant.id);
      expect(await s.merchants.findByApiKey('cpk_nope')).toBeUndefined();
      const second = await s.merchants.rotateKey(merchant.id, { revokeOthers: false });
      expect((await s.merchants.keys(merchant.id)).map((k) => [k.id, k.revokedAt])).toEqual([[key.keyId, null], [second.keyId, null]].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)));
      time.now += 1000;
      const third = await s.merchants.rotateKey(merchant.id, { revokeOthers: true });
      expect((await s.merchants.keys(merchant.id)).filter((k) => k.revokedAt === null).map((k) => k.id)).toEqual([third.keyId]);
      expect(await s.merchants.findByApiKey(key.apiKey)).toBeUndefined();
      await s.merchants.revokeKey(merchant.id, third.keyId);
      await expect(s.merchants.revokeKey(merchant.id, third.keyId)).rejects.toMatchObject({ code: 'not_found', field: 'key' });
      expect((await s.merchants.setVoiceClip(merchant.id, '/clips/a.wav')).voiceClip).toBe('/clips/a.wav');
      expect(await s.merchants.setStatus(merchant.id, 'disabled')).toMatchObject({ status: 'disabled', updatedAt: at(1000) });
      const other = (await s.merchants.add(merchantInput('B'))).merchant;
      expect((await s.merchants.list({ limit: 10 })).map((m) => m.id)).toEqual([merchant.id, other.id].sort());
      expect((await s.merchants.list({ limit: 10, after: [merchant.id, other.id].sort()[0]! })).length).toBe(1);
      for (const call of [() => s.merchants.get('mer_x'), () => s.merchants.keys('mer_x'), () => s.merchants.rotateKey('mer_x', { revokeOthers: true }), () => s.merchants.setStatus('mer_x', 'active'), () => s.merchants.setVoiceClip('mer_x', null)]) {
        await expect(call()).rejects.toMatchObject({ code: 'not_found', field: 'merchant' });
      }
    });

    it('leaves one active key when two nodes rotate with revokeOthers at once', async () => {
      const a = await open();
      const b = await another(a);
      const m = await withMerchant(a);
      // PostgreSQL: the four rotations' transactions are all open before any rotates, so they overlap.
      const meet = arrivals(driver === 'postgres' ? 4 : 1);
      await Promise.all([a, b, a, b].map((s) => s.withTransaction(async (tx) => {
        await meet.arrive();
        await tx.merchants.rotateKey(m, { revokeOthers: true });
      })));
      expect((await a.merchants.keys(m)).filter((k) => k.revokedAt === null)).toHaveLength(1);
    });

    it('issues secrets, rotates with an overlap, and lists the valid ones newest first', async () => {
      const s = await open();
      const m = await withMerchant(s);
      const first = await s.webhookSecrets.create(m);
      expect(first).toMatch(/^whsec_/);
      time.now += 1000;
      const second = await s.webhookSecrets.rotate(m, 24);
      expect(await s.webhookSecrets.active(m)).toEqual([second, first]);
      time.now += 3_600_000;
      const third = await s.webhookSecrets.rotate(m, 48);
      expect(await s.webhookSecrets.active(m)).toEqual([third, second, first]);
      time.now += 24 * 3_600_000;
      expect(await s.webhookSecrets.active(m)).toEqual([third, second]);
      time.now += 48 * 3_600_000;
      expect(await s.webhookSecrets.active(m)).toEqual([third]);
      expect(await s.webhookSecrets.rotate(m, 0)).not.toBe(third);
      expect(await s.webhookSecrets.active(m)).toHaveLength(1);
      await expect(s.webhookSecrets.create('mer_x')).rejects.toMatchObject({ code: 'not_found', field: 'merchant' });
      await expect(s.webhookSecrets.rotate('mer_x', 1)).rejects.toMatchObject({ code: 'not_found' });
    });

    it('keeps one secret without an end when two nodes rotate at once', async () => {
      const a = await open();
      const b = await another(a);
      const m = await withMerchant(a);
      await a.webhookSecrets.create(m);
      await Promise.all([a, b, a, b].map((s) => s.webhookSecrets.rotate(m, 1)));
      time.now += 2 * 3_600_000;
      expect(await a.webhookSecrets.active(m)).toHaveLength(1);
    });
  });


  describe('transactions', () => {
    const names = async (s: Store) => (await s.merchants.list({ limit: 100 })).map((m) => m.displayName).sort();

    it('commits a unit whole or not at all, undoes only a failed nested unit, and runs after-commit work once committed', async () => {
      const s = await open();
      const ran: string[] = [];
      await s.withTransaction(async (tx) => {
        await tx.merchants.add(merchantInput('outer'));
        await tx.withTransaction(async (inner) => {
          await inner.merchants.add(merchantInput('kept'));
          inner.afterCommit(() => ran.push('kept'));
        });
        await expect(tx.withTransaction(async (inner) => {
          await inner.merchants.add(merchantInput('undone'));
          inner.afterCommit(() => ran.push('undone'));
          throw new Error('nested failure');
        })).rejects.toThrow('nested failure');
        tx.afterCommit(() => ran.push('outer'));
        expect(ran).toEqual([]);
      });
      expect(ran).toEqual(['kept', 'outer']);
      await expect(s.withTransaction(async (tx) => {
        await tx.merchants.add(merchantInput('rolled back'));
        tx.afterCommit(() => ran.push('never'));
        throw new Error('refused');
      })).rejects.toThrow('refused');
      expect(ran).toEqual(['kept', 'outer']);
      expect(await names(s)).toEqual(['kept', 'outer']);
    });
  });

  describe('opening', () => {
    it('says which kind of store it is, and refuses a key that does not match the database', async () => {
      const s = await open();
      expect([s.driver, s.shared]).toEqual([driver, driver === 'postgres']);
      const wrong = await Keyring.fromMasterKey(new Uint8Array(randomBytes(32)));
      await expect(open({ at: s.location, crypto: wrong })).rejects.toMatchObject({ code: 'key_invalid', field: 'keyFile' });
    });

    it('keeps the first key\'s canary when nodes with different keys open an empty database at once', async () => {
      const dir = tempDir();
      try {
        const where = driver === 'sqlite' ? join(dir.path, 'callpay.db') : (await cluster().createDatabase()).url;
        const keys = await Promise.all([1, 2, 3].map(() => Keyring.fromMasterKey(new Uint8Array(randomBytes(32)))));
        const settled = await Promise.allSettled(keys.map((crypto) => open({ at: where, crypto })));
        expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of settled) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'key_invalid' });
      } finally {
        dir.remove();
      }
    });
  });
});
