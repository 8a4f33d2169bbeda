import { beforeEach, describe, expect, it } from 'vitest';
import type { HoldResult } from '../src/domain/ledger.js';
import { bothDrivers, holdFor, newKeyring, useWorld, type Fixtures, type Node, type Site } from './helpers/ledger-world.js';

/**
 * What several callpay nodes sharing one store must not break: the same test bodies against SQLite
 * (two SqliteStores on one file: its single writer serialises them) and PostgreSQL (two pg pools on
 * one database: row locks do). Balances never go below zero or past a credit limit, a payment is held
 * and charged once, one default account, attempt counters exact, and a key rotation's batch waits for
 * a node writing one of its rows.
 */

describe.each(bothDrivers())('%s store, two nodes at once', (driver, factory) => {
  const w = useWorld(factory);
  const { account, prepaid } = w;
  let master: Uint8Array;
  let site: Site;
  let node: Node;
  let fx: Fixtures;
  beforeEach(() => void ({ master, site, node, fx } = w));

    it('two nodes holding at once on one small prepaid balance never overdraw it; posting twice charges once', async () => {
      const { consumer, merchant, acct } = await prepaid(1000);
      const other = await site.node();
      const payments = await Promise.all(Array.from({ length: 30 }, () => fx.payment(merchant, consumer, acct.id, 70)));
      const results = await Promise.all(payments.map((p, i) => holdFor(i % 2 ? other : node, p, merchant, acct.id, 70)));
      const held = payments.filter((_, i) => results[i]!.ok);
      expect(held).toHaveLength(14); // 14 × 70 = 980 ≤ 1000 < 15 × 70
      expect(await node.ledger.available(acct.id)).toBe(20);
      for (const r of results) if (!r.ok) expect(r).toMatchObject({ code: 'insufficient_funds' });

      const posts = await Promise.all(held.flatMap((p) => [node.ledger.post(p), other.ledger.post(p)]));
      for (let i = 0; i < held.length; i++) expect(posts[2 * i]).toBe(posts[2 * i + 1]);
      expect(await other.accounts.get(acct.id)).toMatchObject({ balance: 20, available: 20 });
      const [sums] = await node.sql("SELECT count(*) AS n, sum(amount) AS total FROM transfers WHERE kind = 'post'");
      expect(Number(sums!.n)).toBe(14);
      expect(Number(sums!.total)).toBe(980);
    });

    it('the same payment held on two nodes at once is held once', async () => {
      const { consumer, merchant, acct } = await prepaid(1000);
      const other = await site.node();
      for (let i = 0; i < 5; i++) {
        const p = await fx.payment(merchant, consumer, acct.id, 100);
        const [a, b] = await Promise.all([holdFor(node, p, merchant, acct.id, 100), holdFor(other, p, merchant, acct.id, 100)]);
        expect(a.ok && b.ok && a.transferId === b.transferId).toBe(true);
      }
      expect(await node.ledger.available(acct.id)).toBe(500);
    });

    it('two nodes resolving one hold at once: one post or one void, never both', async () => {
      const { consumer, merchant, acct } = await prepaid(1000);
      const other = await site.node();
      for (let i = 0; i < 5; i++) {
        const p = await fx.payment(merchant, consumer, acct.id, 100);
        await holdFor(node, p, merchant, acct.id, 100);
        const [a, b] = await Promise.allSettled([node.ledger.post(p), other.ledger.void(p)]);
        expect([a.status, b.status].filter((s) => s === 'fulfilled')).toHaveLength(1);
        const failed = (a.status === 'rejected' ? a : b) as PromiseRejectedResult;
        expect(failed.reason).toMatchObject({ code: 'invalid_state' });
      }
      const rows = await node.sql("SELECT count(*) AS n FROM transfers WHERE kind IN ('post', 'void')");
      expect(Number(rows[0]!.n)).toBe(5);
      const a = await node.accounts.get(acct.id);
      expect(a.available).toBe(a.balance);
    });

    it('two nodes on one postpaid credit limit never exceed it', async () => {
      const consumer = await fx.consumer();
      const merchant = await fx.merchant();
      const acct = await node.accounts.add(account(consumer, { plan: 'postpaid', creditLimit: 500 }));
      const other = await site.node();
      const payments = await Promise.all(Array.from({ length: 12 }, () => fx.payment(merchant, consumer, acct.id, 100)));
      const results: HoldResult[] = await Promise.all(payments.map((p, i) => holdFor(i % 2 ? other : node, p, merchant, acct.id, 100)));
      expect(results.filter((r) => r.ok)).toHaveLength(5);
      await Promise.all(payments.filter((_, i) => results[i]!.ok).map((p, i) => (i % 2 ? other : node).ledger.post(p)));
      expect(await node.ledger.available(acct.id)).toBe(0);
    });

    it('two nodes adding accounts for one consumer at once leave exactly one default', async () => {
      const consumer = await fx.consumer();
      const other = await site.node();
      const added = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : node).accounts.add(account(consumer, { makeDefault: i > 0 }))));
      expect(added).toHaveLength(10);
      expect((await node.accounts.listForConsumer(consumer)).filter((a) => a.isDefault)).toHaveLength(1);
    });

    it('two nodes giving back attempts at once each give back one', async () => {
      const other = await site.node();
      for (let i = 0; i < 6; i++) await node.attemptLimits.add('login', 'alice');
      await Promise.all(Array.from({ length: 4 }, (_, i) => (i % 2 ? other : node).attemptLimits.refund('login', 'alice')));
      expect(await node.attemptLimits.count('login', 'alice', 60_000)).toBe(2);
    });

    // Row locks exist only on PostgreSQL (SQLite has one writer at a time): defined for it alone.
    if (driver === 'postgres') {
      // SQLite's single writer serialises the check and the dial on its own; PostgreSQL needs the per-key lock.
      it('two nodes checking a call cap and counting their dial at once never pass the cap', async () => {
        const { consumer, merchant, acct } = await prepaid(1000);
        const other = await site.node();
        const payments = await Promise.all(Array.from({ length: 8 }, () => fx.payment(merchant, consumer, acct.id, 10)));
        const since = new Date(site.clock.now.getTime() - 3_600_000);
        const dialled = await Promise.all(
          payments.map((p, i) =>
            (i % 2 ? other : node).inTx(async (tx) => {
              if ((await tx.dials.countSince({ consumerId: consumer }, since)) >= 3) return false;
              await tx.dials.record({ paymentId: p, attempt: 1, consumerId: consumer, merchantId: merchant, number: '+886912345678' });
              return true;
            }),
          ),
        );
        expect(dialled.filter(Boolean)).toHaveLength(3);
        expect(await node.dials.countSince({ consumerId: consumer }, since)).toBe(3);
      });

      it('a batch waits for a node that holds one of its rows locked', async () => {
        const consumer = await fx.consumer();
        const acct = await node.accounts.add(account(consumer));
        const { keyring: next } = await newKeyring([master]);
        const rotated = await site.node(next);
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        const writer = rotated.inTx(async (tx) => {
          await tx.ledger.available(acct.id);
          // locks the consumer row (see PgCallRepository.recordPinFailure) until `release`
          await tx.callRecords.recordPinFailure(consumer, (await fx.payment(await fx.merchant(), consumer, acct.id, 1)), 60_000);
          await held;
        });
        await new Promise((r) => setTimeout(r, 200));
        let batchDone = false;
        const batch = rotated.keys.rekeyBatch(null, 10).then((r) => ((batchDone = true), r));
        await new Promise((r) => setTimeout(r, 300));
        expect(batchDone).toBe(false);
        release();
        await writer;
        expect((await batch).changed).toBe(1);
      });
    }
});
