import { createHash, randomBytes } from 'node:crypto';
import { arrivals, waitFor } from './helpers/wait.js';
import { lockWaiters } from './helpers/stores.js';
import { describe, expect, it } from 'vitest';
import { Keyring } from '../src/crypto/keyring.js';
import type { Store } from '../src/payments/repositories.js';
import { DRIVERS, T0, at, entry, payment, time, useContractWorld } from './helpers/contract-a.js';

/**
 * The repository contract, part A's second half: idempotency keys, events and the webhook outbox,
 * the audit log; the same bodies against the SQLite store and the PostgreSQL store (see
 * store-contract-a.test.ts for "two nodes").
 */

const world = useContractWorld();

describe.each(DRIVERS)('store contract A, outbox and audit (%s)', (driver) => {
  const { open, another, withMerchant } = world(driver);

  describe('idempotency', () => {
    const hash = (body: string) => createHash('sha256').update(body).digest();

    it('stores a response, replays it, refuses another request under the key, and prunes by age', async () => {
      const s = await open();
      const m = await withMerchant(s);
      expect(await s.idempotency.lookup(m, 'k1', hash('a'))).toBeUndefined();
      await s.idempotency.save(m, 'k1', hash('a'), { status: 201, body: { id: 'pay_1', nested: [1, 2] } });
      expect(await s.idempotency.lookup(m, 'k1', hash('a'))).toEqual({ status: 201, body: { id: 'pay_1', nested: [1, 2] } });
      await expect(s.idempotency.lookup(m, 'k1', hash('b'))).rejects.toMatchObject({ code: 'idempotency_conflict', field: 'Idempotency-Key' });
      expect(await s.idempotency.lookup(await withMerchant(s), 'k1', hash('a'))).toBeUndefined();
      time.now += 60_000;
      await s.idempotency.save(m, 'k2', hash('a'), { status: 422, body: { error: 'x' } });
      expect(await s.idempotency.prune(new Date(T0 + 1))).toBe(1);
      expect(await s.idempotency.lookup(m, 'k1', hash('a'))).toBeUndefined();
      expect(await s.idempotency.lookup(m, 'k2', hash('a'))).toBeDefined();
      await expect(s.idempotency.save(m, 'k2', hash('a'), { status: 201, body: {} })).rejects.toThrow();
    });

    it('creates one payment when one key reaches two nodes at once; the other replays it', async () => {
      const a = await open();
      const b = await another(a);
      const m = await withMerchant(a);
      // PostgreSQL: all four requests' transactions are open before any looks the key up.
      const meet = arrivals(driver === 'postgres' ? 4 : 1);
      const request = (s: Store) => s.withTransaction(async (tx) => {
        await meet.arrive();
        const stored = await tx.idempotency.lookup(m, 'same-key', hash('body'));
        if (stored) return { replay: true, response: stored };
        const p = await tx.payments.insert(payment(m), 'requires_consumer', 'created');
        const response = { status: 201, body: { id: p.id } };
        await tx.idempotency.save(m, 'same-key', hash('body'), response);
        return { replay: false, response };
      });
      const results = await Promise.all([request(a), request(b), request(a), request(b)]);
      expect(results.filter((r) => !r.replay)).toHaveLength(1);
      expect(new Set(results.map((r) => JSON.stringify(r.response))).size).toBe(1);
      expect(await a.payments.list(m, { limit: 10 })).toHaveLength(1);
    });
  });


  describe('events and the webhook outbox', () => {
    it('appends events, queues a delivery when the merchant has a webhook, lists by cursor and filter', async () => {
      const s = await open();
      const hooked = await withMerchant(s, 'https://shop.example/hook');
      const quiet = await withMerchant(s);
      const p = await s.payments.insert(payment(hooked), 'requires_consumer', 'created');
      const e1 = await s.events.append(hooked, 'payment.succeeded', p.id, { amount: 500 });
      const e2 = await s.events.append(hooked, 'refund.succeeded', p.id, { amount: 100 });
      await s.events.append(quiet, 'payment.failed', null, {});
      expect(e1).toMatchObject({ merchantId: hooked, type: 'payment.succeeded', paymentId: p.id, data: { amount: 500 }, createdAt: at(0) });
      expect(e2.seq).toBeGreaterThan(e1.seq);
      expect(await s.events.get(e1.id)).toEqual(e1);
      expect(await s.events.get('evt_x')).toBeUndefined();
      expect(await s.events.list(hooked, { limit: 10 })).toEqual([e1, e2]);
      expect(await s.events.list(hooked, { limit: 10, after: e1.seq })).toEqual([e2]);
      expect(await s.events.list(hooked, { limit: 1 })).toEqual([e1]);
      expect(await s.events.list(hooked, { limit: 10, type: 'refund.succeeded', paymentId: p.id })).toEqual([e2]);
      const deliveries = await s.deliveries.list({ limit: 10 });
      // Both queued at the same clock time: their order is the ids', random within one millisecond.
      expect(deliveries.map((d) => [d.eventId, d.status, d.attempts, d.url]).sort()).toEqual([[e1.id, 'pending', 0, 'https://shop.example/hook'], [e2.id, 'pending', 0, 'https://shop.example/hook']].sort());
      expect(deliveries[0]).toMatchObject({ nextAttemptAt: at(0), giveUpAt: at(72 * 3_600_000), lastStatus: null, deliveredAt: null });
      const replayId = await s.events.enqueueDelivery(e1.seq, hooked, 'https://other.example/hook');
      expect((await s.deliveries.list({ merchantId: hooked, limit: 10 })).map((d) => d.id)).toContain(replayId);
      expect(await s.deliveries.list({ merchantId: quiet, limit: 10 })).toEqual([]);
    });

    it('lets a merchant\'s next event commit only after the open one, so a cursor never skips', async () => {
      const a = await open();
      const b = await another(a);
      const m = await withMerchant(a);
      const order: string[] = [];
      let appended!: () => void;
      const first = new Promise<void>((r) => { appended = r; });
      const ta = a.withTransaction(async (tx) => {
        const e = await tx.events.append(m, 'payment.succeeded', null, { n: 1 });
        appended();
        // Commit only once the other node's append is seen waiting behind ours.
        if (driver === 'postgres') await waitFor('the second append to wait on the event-order lock', async () => (await lockWaiters(b)) > 0);
        order.push('first commits');
        return e;
      });
      await first;
      const tb = b.withTransaction(async (tx) => {
        const e = await tx.events.append(m, 'payment.failed', null, { n: 2 });
        order.push('second appended');
        return e;
      });
      const [ea, eb] = await Promise.all([ta, tb]);
      expect(order).toEqual(['first commits', 'second appended']);
      expect(eb.seq).toBeGreaterThan(ea.seq);
    });

    it('hands out due deliveries, leases them once, and records each outcome once', async () => {
      const s = await open();
      const m = await withMerchant(s, 'https://shop.example/hook');
      const events = [];
      for (let i = 0; i < 3; i++) {
        time.now = T0 + i * 1000;
        events.push(await s.events.append(m, 'payment.succeeded', null, { i }));
      }
      const due = await s.deliveries.due(at(1000), 10);
      expect(due.map((d) => d.eventId)).toEqual([events[0]!.id, events[1]!.id]);
      expect(due[0]).toMatchObject({ merchantId: m, attempts: 0, nextAttemptAt: at(0), eventType: 'payment.succeeded', eventData: '{"i":0}', eventCreatedAt: at(0) });
      expect(await s.deliveries.due(at(5000), 1)).toHaveLength(1);
      expect(await s.deliveries.claim(due[0]!, at(30_000))).toBe(true);
      expect(await s.deliveries.claim(due[0]!, at(30_000))).toBe(false);
      expect((await s.deliveries.due(at(5000), 10)).map((d) => d.eventId)).toEqual([events[1]!.id, events[2]!.id]);
      await s.deliveries.markDelivered(due[0]!.id, 204, at(2000));
      await s.deliveries.markAttemptFailed(due[0]!.id, 500, 'late', at(9000));
      await s.deliveries.markAttemptFailed(due[1]!.id, 503, 'unavailable', at(60_000));
      await s.deliveries.markAttemptFailed(due[1]!.id, null, 'timeout', null);
      const byEvent = new Map((await s.deliveries.list({ limit: 10 })).map((d) => [d.eventId, d]));
      expect(byEvent.get(events[0]!.id)).toMatchObject({ status: 'delivered', attempts: 1, lastStatus: 204, lastError: null, deliveredAt: at(2000) });
      expect(byEvent.get(events[1]!.id)).toMatchObject({ status: 'failed', attempts: 2, lastStatus: null, lastError: 'timeout', nextAttemptAt: at(60_000) });
      expect((await s.deliveries.list({ status: 'pending', merchantId: m, limit: 10 })).map((d) => d.eventId)).toEqual([events[2]!.id]);
      expect(await s.deliveries.backlog()).toEqual({ pending: 1, oldestCreatedAt: at(2000) });
      expect(await s.deliveries.eventsToReplay(m, { since: at(1000), limit: 10 })).toEqual([events[1], events[2]].map((e) => ({ seq: e!.seq, id: e!.id, createdAt: e!.createdAt })));
      expect(await s.deliveries.eventsToReplay(m, { type: 'refund.succeeded', limit: 10 })).toEqual([]);
      expect(await s.deliveries.eventsToReplay(m, { limit: 1 })).toHaveLength(1);
    });

    it('leases each due delivery to one node when two claim at once', async () => {
      const a = await open();
      const b = await another(a);
      const m = await withMerchant(a, 'https://shop.example/hook');
      for (let i = 0; i < 20; i++) await a.events.append(m, 'payment.succeeded', null, { i });
      const sweep = async (s: Store) => {
        const mine: string[] = [];
        for (const d of await s.deliveries.due(at(0), 100)) if (await s.deliveries.claim(d, at(30_000))) mine.push(d.id);
        return mine;
      };
      const claimed = (await Promise.all([sweep(a), sweep(b), sweep(a), sweep(b)])).flat();
      expect(claimed).toHaveLength(20);
      expect(new Set(claimed).size).toBe(20);
    });
  });


  describe('audit log', () => {
    it('appends a chain, lists it, and verifies it; a checkpoint carries a digest of the rows before it', async () => {
      const s = await open();
      expect(await s.audit.verify()).toEqual({ ok: true, rows: 0, lastSeq: null });
      const first = await s.audit.append(entry('consumer.update'));
      expect(first).toEqual({ ...entry('consumer.update'), seq: 1, at: at(0) });
      await s.audit.append(entry('merchant.add', 'mer_1'));
      const cp = await s.audit.append({ actor: 'mei', action: 'key.rotate', subject: '*', details: { phase: 'completed' } }, { checkpoint: true });
      expect(cp.details).toMatchObject({ phase: 'completed', chainDigest: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect((await s.audit.list({ limit: 10 })).map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(await s.audit.list({ limit: 10, after: 1, subject: 'mer_1' })).toEqual([{ ...entry('merchant.add', 'mer_1'), seq: 2, at: at(0) }]);
      expect(await s.audit.verify()).toEqual({ ok: true, rows: 3, lastSeq: 3 });
    });

    it('finds a changed row, a removed tail, and never reuses a removed number', async () => {
      const s = await open();
      for (const a of ['consumer.add', 'consumer.update', 'consumer.lock'] as const) await s.audit.append(entry(a));
      await s.tamper('DELETE FROM audit_log WHERE seq = ?', 3);
      expect(await s.audit.verify()).toEqual({ ok: false, rows: 2, brokenAt: 3, reason: 'truncated' });
      expect((await s.audit.append(entry('consumer.unlock'))).seq).toBe(4);
      expect(await s.audit.verify()).toEqual({ ok: false, rows: 2, brokenAt: 4, reason: 'deleted' });
      // A chain copied in with its numbering (store copy moves the identity past what it copied).
      const copied = await open();
      for (const a of ['consumer.add', 'consumer.update'] as const) await copied.audit.append(entry(a));
      await copied.tamper(driver === 'sqlite' ? "UPDATE sqlite_sequence SET seq = ? WHERE name = 'audit_log'" : "SELECT setval('audit_log_seq_seq', ?, false)", driver === 'sqlite' ? 5 : 6);
      expect(await copied.audit.verify()).toEqual({ ok: false, rows: 2, brokenAt: 3, reason: 'truncated' });
      expect((await copied.audit.append(entry('consumer.lock'))).seq).toBe(6);
      const t = await open();
      for (const a of ['consumer.add', 'consumer.update'] as const) await t.audit.append(entry(a));
      await t.tamper('UPDATE audit_log SET details = ? WHERE seq = ?', '{"fields":["phone"]}', 2);
      expect(await t.audit.verify()).toEqual({ ok: false, rows: 1, brokenAt: 2, reason: 'changed' });
    });

    it('stays one chain when two nodes append at once', async () => {
      const a = await open();
      const b = await another(a);
      await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).audit.append(entry('consumer.update', `cons_${i}`))));
      expect(await a.audit.verify()).toEqual({ ok: true, rows: 16, lastSeq: 16 });
    });

    it('verifies rows under a dropped key only through a key-rotation checkpoint', async () => {
      const [k1, k2] = [new Uint8Array(randomBytes(32)), new Uint8Array(randomBytes(32))];
      const rotate = async (checkpoint: boolean) => {
        const old = await open({ crypto: await Keyring.fromMasterKey(k1) });
        await old.audit.append(entry('consumer.add'));
        await old.audit.append(entry('consumer.update'));
        const both = await open({ at: old.location, crypto: await Keyring.fromMasterKey(k2, [k1]) });
        await both.audit.append({ actor: 'mei', action: 'key.rotate', subject: '*', details: { phase: 'completed' } }, { checkpoint });
        expect(await both.keys.finish()).toBe(true);
        const fresh = await open({ at: old.location, crypto: await Keyring.fromMasterKey(k2) });
        return fresh.audit.verify();
      };
      expect(await rotate(true)).toEqual({ ok: true, rows: 3, lastSeq: 3 });
      expect(await rotate(false)).toEqual({ ok: false, rows: 0, brokenAt: 1, reason: 'changed' });
    });
  });

});
