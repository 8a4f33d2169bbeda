import { beforeEach, describe, expect, it } from 'vitest';
import type { FieldCrypto } from '../src/store/field-crypto.js';
import { Keyring } from '../src/crypto/keyring.js';
import { bothDrivers, code, holdFor, newKeyring, useWorld, type Fixtures, type Node, type Site } from './helpers/ledger-world.js';

/**
 * The ledger, accounts, billing, call records, dials, attempt limits and key rotation: the same test
 * bodies against the SQLite store and the PostgreSQL repositories (a throw-away cluster of this
 * file's own, a fresh database per test). Several nodes at once: store-contract-b-nodes.test.ts.
 */

describe.each(bothDrivers())('%s store: ledger, accounts, billing, calls, dials, key rotation', (_driver, factory) => {
  const w = useWorld(factory);
  const { account, prepaid } = w;
  let crypto: FieldCrypto;
  let master: Uint8Array;
  let site: Site;
  let node: Node;
  let fx: Fixtures;
  beforeEach(() => void ({ crypto, master, site, node, fx } = w));

  describe('ledger', () => {
    it('holds, posts and voids prepaid money; every step is idempotent', async () => {
      const { consumer, merchant, acct } = await prepaid(1000);
      expect(await node.ledger.available(acct.id)).toBe(1000);
      const p1 = await fx.payment(merchant, consumer, acct.id, 600);
      const h1 = await holdFor(node, p1, merchant, acct.id, 600);
      expect(h1.ok).toBe(true);
      expect(await holdFor(node, p1, merchant, acct.id, 600)).toEqual(h1);
      expect(await node.ledger.hasHold(p1)).toBe(true);
      expect(await node.ledger.available(acct.id)).toBe(400);
      const p2 = await fx.payment(merchant, consumer, acct.id, 500);
      expect(await holdFor(node, p2, merchant, acct.id, 500)).toEqual({ ok: false, code: 'insufficient_funds', available: 400 });
      expect(await node.ledger.hasHold(p2)).toBe(false);

      const post = await node.ledger.post(p1);
      expect(await node.ledger.post(p1)).toBe(post);
      expect(await node.accounts.get(acct.id)).toMatchObject({ balance: 400, available: 400 });
      expect(await code(node.ledger.void(p1))).toBe('invalid_state/payment');
      expect(await node.ledger.void(p2)).toBeNull();
      expect(await code(node.ledger.post(p2))).toBe('invalid_state/payment');

      const p3 = await fx.payment(merchant, consumer, acct.id, 300);
      await holdFor(node, p3, merchant, acct.id, 300);
      const voided = await node.ledger.void(p3);
      expect(await node.ledger.void(p3)).toBe(voided);
      expect(await code(node.ledger.post(p3))).toBe('invalid_state/payment');
      expect(await node.accounts.get(acct.id)).toMatchObject({ balance: 400, available: 400 });
    });

    it('refuses another currency and an unknown account', async () => {
      const { consumer, merchant, acct } = await prepaid(1000);
      const p = await fx.payment(merchant, consumer, acct.id, 100, 'USD');
      expect(await code(holdFor(node, p, merchant, acct.id, 100, 'USD'))).toBe('invalid_state/currency');
      expect(await code(holdFor(node, p, merchant, 'acct_nope', 100))).toBe('not_found/account');
      expect(await code(node.ledger.available('acct_nope'))).toBe('not_found/account');
    });

    it('postpaid: credit per cycle, refunds give it back, a new cycle starts afresh', async () => {
      const consumer = await fx.consumer();
      const merchant = await fx.merchant();
      const acct = await node.accounts.add(account(consumer, { plan: 'postpaid', creditLimit: 1000 }));
      expect(await node.ledger.currentCycle()).toBe('2026-03');
      const p1 = await fx.payment(merchant, consumer, acct.id, 700);
      await holdFor(node, p1, merchant, acct.id, 700);
      const p2 = await fx.payment(merchant, consumer, acct.id, 400);
      expect(await holdFor(node, p2, merchant, acct.id, 400)).toEqual({ ok: false, code: 'credit_limit_exceeded', available: 300 });
      await node.ledger.post(p1);
      expect(await node.ledger.available(acct.id)).toBe(300);
      await node.ledger.refund(p1, await fx.refundRow(p1, 200), 200);
      expect(await node.accounts.get(acct.id)).toMatchObject({ balance: 0, available: 500, creditLimit: 1000 });
      site.clock.now = new Date('2026-04-02T00:00:00.000Z');
      expect(await node.ledger.available(acct.id)).toBe(1000);
    });

    it('refunds only a charge, a positive amount, and a refund id once', async () => {
      const { consumer, merchant, acct } = await prepaid(1000);
      const p = await fx.payment(merchant, consumer, acct.id, 600);
      const r0 = await fx.refundRow(p, 100);
      expect(await code(node.ledger.refund(p, r0, 100))).toBe('invalid_state/payment');
      await holdFor(node, p, merchant, acct.id, 600);
      expect(await code(node.ledger.refund(p, r0, 100))).toBe('invalid_state/payment');
      await node.ledger.post(p);
      expect(await code(node.ledger.refund(p, r0, 0))).toBe('invalid_field/amount');
      const t = await node.ledger.refund(p, r0, 100);
      expect(t).toMatch(/^tr_/);
      // SQLite's unique index refuses the repeat; PostgreSQL returns the first transfer: money moves once either way
      await node.ledger.refund(p, r0, 100).catch(() => undefined);
      expect(await node.accounts.get(acct.id)).toMatchObject({ balance: 500, available: 500 });
    });

    it('a hold in a transaction that rolls back leaves nothing behind', async () => {
      const { consumer, merchant, acct } = await prepaid(1000);
      const p = await fx.payment(merchant, consumer, acct.id, 600);
      await expect(node.inTx(async (tx) => {
        expect((await tx.ledger.hold({ paymentId: p, merchantId: merchant, billableAccountId: acct.id, amount: 600, currency: 'TWD' })).ok).toBe(true);
        expect(await tx.ledger.available(acct.id)).toBe(400);
        throw new Error('undo');
      })).rejects.toThrow('undo');
      expect(await node.ledger.hasHold(p)).toBe(false);
      expect(await node.ledger.available(acct.id)).toBe(1000);
      // and one that commits is there, posted in the same transaction
      await node.inTx(async (tx) => {
        await tx.ledger.hold({ paymentId: p, merchantId: merchant, billableAccountId: acct.id, amount: 600, currency: 'TWD' });
        await tx.ledger.post(p);
      });
      expect(await node.accounts.get(acct.id)).toMatchObject({ balance: 400, available: 400 });
    });

  });

  describe('accounts', () => {
    it('the first account is the default; makeDefault moves it; numbers are unique and sealed', async () => {
      const consumer = await fx.consumer();
      const a = await node.accounts.add(account(consumer));
      expect(a).toMatchObject({ consumerId: consumer, plan: 'prepaid', balance: 0, available: 0, isDefault: true, creditLimit: null });
      const b = await node.accounts.add(account(consumer, { plan: 'postpaid', creditLimit: 900, kind: 'landline' }));
      expect(b).toMatchObject({ isDefault: false, available: 900, balance: 0 });
      const c = await node.accounts.add(account(consumer, { makeDefault: true, kind: 'broadband' }));
      expect((await node.accounts.defaultFor(consumer))?.id).toBe(c.id);
      // The default first; the others by creation time (a and b may share a millisecond: no order between them then).
      const listed = (await node.accounts.listForConsumer(consumer)).map((x) => x.id);
      expect(listed[0]).toBe(c.id);
      expect(listed.slice(1).sort()).toEqual([a.id, b.id].sort());
      expect((await node.accounts.get(a.id)).number).toBe(a.number);
      const [raw] = await node.sql('SELECT number_sealed FROM billable_accounts WHERE id = ?', [a.id]);
      expect(Buffer.from(raw!.number_sealed as Buffer).toString('latin1')).not.toContain(a.number);
      expect(await code(node.accounts.add(account(await fx.consumer(), { number: a.number })))).toBe('already_exists/number');
      expect(await node.accounts.defaultFor(await fx.consumer())).toBeUndefined();
    });

    it('checks plans, amounts and ids', async () => {
      const consumer = await fx.consumer();
      expect(await code(node.accounts.add(account(consumer, { plan: 'postpaid' })))).toBe('invalid_field/credit-limit');
      expect(await code(node.accounts.add(account(consumer, { creditLimit: 5 })))).toBe('invalid_field/credit-limit');
      const post = await node.accounts.add(account(consumer, { plan: 'postpaid', creditLimit: 100 }));
      expect(await code(node.accounts.topup(post.id, 100, null))).toBe('invalid_state/account');
      expect(await code(node.accounts.topup(post.id, 0, null))).toBe('invalid_field/amount');
      expect(await code(node.accounts.topup('acct_nope', 10, null))).toBe('not_found/account');
      expect(await code(node.accounts.get('acct_nope'))).toBe('not_found/account');
      const pre = await node.accounts.add(account(consumer));
      expect(await node.accounts.topup(pre.id, 250, 'cash')).toMatchObject({ balance: 250, available: 250 });
    });

  });

  describe('billing', () => {
    it('bills charges and refunds of a cycle by account, settles them per merchant', async () => {
      const { consumer, merchant, acct } = await prepaid(5000);
      const p1 = await fx.payment(merchant, consumer, acct.id, 1200);
      await holdFor(node, p1, merchant, acct.id, 1200);
      await node.ledger.post(p1);
      await node.ledger.refund(p1, await fx.refundRow(p1, 200), 200);
      const p2 = await fx.payment(merchant, consumer, acct.id, 300);
      await holdFor(node, p2, merchant, acct.id, 300);
      await node.ledger.void(p2);
      const lines = await node.billing.billRows('2026-03');
      expect(lines.map((l) => [l.type, l.amount, l.paymentId, l.accountNumber, l.merchantName])).toEqual([
        ['charge', 1200, p1, acct.number, 'Tea Stall'],
        ['refund', -200, p1, acct.number, 'Tea Stall'],
      ]);
      expect(lines[0]).toMatchObject({ accountId: acct.id, device: 'mobile', plan: 'prepaid', currency: 'TWD', reference: `ref-${p1}` });
      expect(await node.billing.billRows('2026-02')).toEqual([]);
      expect(await node.billing.settlement(merchant, '2026-03')).toEqual({
        merchantName: 'Tea Stall', rows: [{ currency: 'TWD', charges: 1200, chargeCount: 1, refunds: 200, refundCount: 1 }],
      });
      expect(await node.billing.settlement(merchant, '2026-02')).toEqual({ merchantName: 'Tea Stall', rows: [] });
      expect(await code(node.billing.settlement('mer_nope', '2026-03'))).toBe('not_found/merchant');
    });
  });

  describe('call records and PIN failures', () => {
    it('records attempts (upsert), lists them with the number masked only while it is the consumer’s', async () => {
      const { consumer, merchant, acct } = await prepaid(0);
      const p = await fx.payment(merchant, consumer, acct.id, 100);
      const cdr = { callId: 'c1', startedAt: '2026-03-10T10:00:00.000Z', answeredAt: null, endedAt: null, outcome: 'answered' as const, sipStatus: null, reason: null, digitCount: 0 };
      await node.callRecords.recordAttempt(p, 1, cdr);
      await node.callRecords.recordAttempt(p, 1, { ...cdr, answeredAt: '2026-03-10T10:00:05.000Z', endedAt: '2026-03-10T10:00:30.000Z', outcome: 'hung_up', sipStatus: 200, digitCount: 4 });
      await node.callRecords.recordAttempt(p, 2, { ...cdr, callId: 'c2', startedAt: '2026-03-10T10:01:00.000Z', outcome: 'busy', sipStatus: 486 });
      await node.dials.record({ paymentId: p, attempt: 1, consumerId: consumer, merchantId: merchant, number: '+886912345678' });
      await node.dials.record({ paymentId: p, attempt: 2, consumerId: consumer, merchantId: merchant, number: '+886900000000' });
      expect(await node.callRecords.attempts(p)).toEqual([
        { attempt: 1, callId: 'c1', startedAt: cdr.startedAt, answeredAt: '2026-03-10T10:00:05.000Z', endedAt: '2026-03-10T10:00:30.000Z', outcome: 'hung_up', sipStatus: 200, reason: null, digitCount: 4 },
        { attempt: 2, callId: 'c2', startedAt: '2026-03-10T10:01:00.000Z', answeredAt: null, endedAt: null, outcome: 'busy', sipStatus: 486, reason: null, digitCount: 0 },
      ]);
      const one = await node.callRecords.list({ paymentId: p, limit: 10 });
      expect(one.map((a) => [a.attempt, a.maskedNumber, a.merchantId])).toEqual([[1, '+886 9** *** 678', merchant], [2, null, merchant]]);
      const p2 = await fx.payment(merchant, consumer, acct.id, 100);
      await node.callRecords.recordAttempt(p2, 1, { ...cdr, callId: 'c3', startedAt: '2026-03-10T11:00:00.000Z' });
      expect((await node.callRecords.list({ limit: 2 })).map((a) => a.callId)).toEqual(['c3', 'c2']);
      expect((await node.callRecords.list({ since: '2026-03-10T10:00:30.000Z', limit: 10 })).map((a) => a.callId)).toEqual(['c3', 'c2']);
      expect((await node.callRecords.list({ paymentId: p, since: '2026-03-10T10:00:30.000Z', limit: 10 })).map((a) => a.callId)).toEqual(['c2']);
      await fx.changePhone(consumer, '+886911111111');
      expect((await node.callRecords.list({ paymentId: p, limit: 10 }))[0]!.maskedNumber).toBeNull();
    });

    it('counts wrong PINs in the window, from every node, each count once', async () => {
      const { consumer, merchant, acct } = await prepaid(0);
      const p = await fx.payment(merchant, consumer, acct.id, 100);
      expect(await node.callRecords.recordPinFailure(consumer, p, 60_000)).toBe(1);
      site.clock.now = new Date(site.clock.now.getTime() + 120_000);
      expect(await node.callRecords.recordPinFailure(consumer, p, 60_000)).toBe(1);
      const other = await site.node();
      const counts = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? other : node).callRecords.recordPinFailure(consumer, p, 60_000)));
      expect([...counts].sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
      await node.callRecords.clearPinFailures(consumer);
      expect(await node.callRecords.recordPinFailure(consumer, p, 60_000)).toBe(1);
    });
  });

  describe('dials and attempt limits', () => {
    it('counts dials since a time by consumer, merchant and number; one record per attempt', async () => {
      const { consumer, merchant, acct } = await prepaid(0);
      const p = await fx.payment(merchant, consumer, acct.id, 100);
      const before = new Date(site.clock.now.getTime() - 1);
      await node.dials.record({ paymentId: p, attempt: 1, consumerId: consumer, merchantId: merchant, number: '+886912345678' });
      site.clock.now = new Date(site.clock.now.getTime() + 1000);
      await node.dials.record({ paymentId: p, attempt: 2, consumerId: consumer, merchantId: merchant, number: '+886912345678' });
      await expect(node.dials.record({ paymentId: p, attempt: 2, consumerId: consumer, merchantId: merchant, number: '+886912345678' })).rejects.toThrow();
      expect(await node.dials.countSince({ consumerId: consumer }, before)).toBe(2);
      expect(await node.dials.countSince({ merchantId: merchant }, before)).toBe(2);
      expect(await node.dials.countSince({ number: '+886912345678' }, before)).toBe(2);
      expect(await node.dials.countSince({ number: '+886900000000' }, before)).toBe(0);
      expect(await node.dials.countSince({ consumerId: consumer }, new Date(before.getTime() + 500))).toBe(1);
    });

    it('counts attempts in a sliding window, gives back the newest, clears and prunes', async () => {
      const t0 = site.clock.now.getTime();
      const at = (ms: number) => (site.clock.now = new Date(t0 + ms));
      const limits = node.attemptLimits;
      await limits.add('login', 'alice');
      at(1000);
      await limits.add('login', 'alice');
      await limits.add('login', 'bob');
      await limits.add('qr', 'alice');
      expect(await limits.count('login', 'alice', 60_000)).toBe(2);
      expect(await limits.oldest('login', 'alice', 60_000)).toBe(new Date(t0).toISOString());
      at(30_500);
      expect(await limits.count('login', 'alice', 30_000)).toBe(1);
      expect(await limits.oldest('login', 'alice', 30_000)).toBe(new Date(t0 + 1000).toISOString());
      expect(await limits.oldest('login', 'carol', 30_000)).toBeNull();
      await limits.refund('login', 'alice');
      expect(await limits.count('login', 'alice', 60_000)).toBe(1);
      expect(await limits.oldest('login', 'alice', 60_000)).toBe(new Date(t0).toISOString());
      await limits.clear('login', 'alice');
      expect(await limits.count('login', 'alice', 60_000)).toBe(0);
      expect(await limits.count('qr', 'alice', 60_000)).toBe(1);
      expect(await limits.prune(new Date(t0 + 1000))).toBe(0);
      expect(await limits.prune(new Date(t0 + 1001))).toBe(2);
    });

  });

  describe('key rotation', () => {
    it('moves every sealed value and index to the new key in batches; lookups match both keys meanwhile', async () => {
      const { consumer, merchant, acct } = await prepaid(100);
      const acct2 = await node.accounts.add(account(consumer));
      const p = await fx.payment(merchant, consumer, acct.id, 50);
      await node.dials.record({ paymentId: p, attempt: 1, consumerId: consumer, merchantId: merchant, number: '+886912345678' });
      await node.callRecords.recordAttempt(p, 1, { callId: 'c1', startedAt: site.clock.now.toISOString(), answeredAt: null, endedAt: null, outcome: 'busy', sipStatus: 486, reason: null, digitCount: 0 });
      const moved = await fx.consumer('+886922222222');
      const p2 = await fx.payment(merchant, moved, null, 50);
      await node.dials.record({ paymentId: p2, attempt: 1, consumerId: moved, merchantId: merchant, number: '+886922222222' });
      await node.attemptLimits.add('login', 'alice');
      await fx.changePhone(moved, '+886933333333'); // its dial's number can no longer be re-derived

      const oldKey = crypto.currentId;
      const { keyring: next, master: nextMaster } = await newKeyring([master]);
      const rotated = await site.node(next);
      const before = await rotated.keys.status();
      expect(before).toMatchObject({ currentKey: next.currentId, heldKeys: [next.currentId, oldKey], databaseKey: oldKey });
      expect(before.pending).toMatchObject({ 'consumers.login_sealed': 2, 'consumers.phone_index': 2, 'billable_accounts.number_sealed': 2, 'dials.number_index': 2 });
      // under the new key: the old key's index still finds the number, the dial, the attempts
      expect(await code(rotated.accounts.add(account(await fx.consumer(), { number: acct.number })))).toBe('already_exists/number');
      expect(await rotated.dials.countSince({ number: '+886912345678' }, new Date(0))).toBe(1);
      expect(await rotated.attemptLimits.count('login', 'alice', 60_000)).toBe(1);
      expect(await rotated.keys.finish()).toBe(false);

      let cursor = null;
      let changed = 0;
      let batches = 0;
      do {
        const r: Awaited<ReturnType<Node['keys']['rekeyBatch']>> = await rotated.keys.rekeyBatch(cursor, 2);
        changed += r.changed;
        cursor = r.next;
        batches++;
      } while (cursor !== null && batches < 50);
      expect(cursor).toBeNull();
      expect(changed).toBeGreaterThanOrEqual(5);
      const after = await rotated.keys.status();
      expect(after.pending).toEqual({});
      expect(after.dialsWithoutNumber).toBe(1);
      expect(await rotated.keys.rekeyBatch(null, 100)).toEqual({ changed: 0, next: { step: 1, after: null } });
      expect(await rotated.keys.finish()).toBe(true);
      expect((await rotated.keys.status()).databaseKey).toBe(next.currentId);

      const only = await site.node(await Keyring.fromMasterKey(nextMaster));
      expect((await only.accounts.get(acct2.id)).number).toBe(acct2.number);
      expect((await only.callRecords.list({ paymentId: p, limit: 5 }))[0]!.maskedNumber).toBe('+886 9** *** 678');
      expect(await only.dials.countSince({ number: '+886912345678' }, new Date(0))).toBe(1);
    });

  });
});
