import { describe, expect, it } from 'vitest';
import type { FraudReport } from '../src/domain/fraud.js';
import type { Store } from '../src/payments/repositories.js';
import { lockWaiters } from './helpers/stores.js';
import { waitFor } from './helpers/wait.js';
import { DRIVERS, at, consumerInput, payment, time, useContractWorld } from './helpers/contract-a.js';

/**
 * The fraud repository's contract (issue 16, item 1): fraud reports counted per merchant in a window,
 * listed for review, and frictionless-allowance locks; the same bodies on SQLite and PostgreSQL. On
 * PostgreSQL two nodes reporting against one merchant at once must count one after the other.
 */

const world = useContractWorld();

describe.each(DRIVERS)('store contract: fraud reports (%s)', (driver) => {
  const { open, another, withMerchant } = world(driver);

  async function reported(s: Store, merchantId: string, consumerId: string, amount = 500): Promise<FraudReport> {
    const p = await s.payments.insert(payment(merchantId, { amount }), 'calling', 'called');
    return { paymentId: p.id, merchantId, consumerId, amount, currency: 'TWD', reportedAt: new Date(time.now).toISOString() };
  }

  it('records a report once per payment and counts the merchant\'s within the window', async () => {
    const s = await open();
    const [m1, m2] = [await withMerchant(s), await withMerchant(s)];
    const c = await s.consumers.add(consumerInput());
    const r1 = await reported(s, m1, c.id);
    expect(await s.fraud.record(r1, at(-3_600_000))).toBe(1);
    expect(await s.fraud.record(r1, at(-3_600_000))).toBe(1);
    time.now += 2 * 3_600_000;
    const r2 = await reported(s, m1, c.id, 700);
    expect(await s.fraud.record(r2, at(-3_600_000))).toBe(2);
    // a window that starts after the first report counts only the second
    expect(await s.fraud.record(r2, at(3_600_000))).toBe(1);
    expect(await s.fraud.record(await reported(s, m2, c.id), at(0))).toBe(1);
  });

  it('lists newest first, by merchant, consumer and time', async () => {
    const s = await open();
    const [m1, m2] = [await withMerchant(s), await withMerchant(s)];
    const [alice, bob] = [await s.consumers.add(consumerInput('alice')), await s.consumers.add(consumerInput('bob', '+886987654321'))];
    const a = await reported(s, m1, alice.id);
    await s.fraud.record(a, at(0));
    time.now += 1000;
    const b = await reported(s, m2, bob.id, 900);
    await s.fraud.record(b, at(0));
    expect(await s.fraud.list({ limit: 10 })).toEqual([b, a]);
    expect(await s.fraud.list({ limit: 1 })).toEqual([b]);
    expect(await s.fraud.list({ limit: 10, merchantId: m1 })).toEqual([a]);
    expect(await s.fraud.list({ limit: 10, consumerId: bob.id })).toEqual([b]);
    expect(await s.fraud.list({ limit: 10, since: at(500) })).toEqual([b]);
    expect(await s.fraud.list({ limit: 10, merchantId: m1, consumerId: bob.id })).toEqual([]);
  });

  it('locks a consumer\'s allowance once (the first lock stays), and unlocks it', async () => {
    const s = await open();
    const m = await withMerchant(s);
    const c = await s.consumers.add(consumerInput());
    const p1 = await s.payments.insert(payment(m), 'calling', 'called');
    const p2 = await s.payments.insert(payment(m), 'calling', 'called');
    expect(await s.fraud.allowanceLock(c.id)).toBeUndefined();
    const lock = { consumerId: c.id, reason: 'fraud_report' as const, paymentId: p1.id, lockedAt: at(0) };
    await s.withTransaction((tx) => tx.fraud.lockAllowance(lock));
    await s.fraud.lockAllowance({ ...lock, paymentId: p2.id, lockedAt: at(5000) });
    expect(await s.fraud.allowanceLock(c.id)).toEqual(lock);
    expect(await s.fraud.unlockAllowance(c.id)).toBe(true);
    expect(await s.fraud.unlockAllowance(c.id)).toBe(false);
    expect(await s.fraud.allowanceLock(c.id)).toBeUndefined();
  });

  it('a report rolled back with its transaction is not counted', async () => {
    const s = await open();
    const m = await withMerchant(s);
    const c = await s.consumers.add(consumerInput());
    const r = await reported(s, m, c.id);
    await expect(s.withTransaction(async (tx) => {
      await tx.fraud.record(r, at(0));
      throw new Error('undo');
    })).rejects.toThrow('undo');
    expect(await s.fraud.list({ limit: 10 })).toEqual([]);
  });

  it('two nodes reporting against one merchant at once count one after the other', async () => {
    const s = await open();
    const s2 = await another(s);
    const m = await withMerchant(s);
    const c = await s.consumers.add(consumerInput());
    const [r1, r2] = [await reported(s, m, c.id), await reported(s, m, c.id)];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let firstCounted = false;
    const first = s.withTransaction(async (tx) => {
      const n = await tx.fraud.record(r1, at(0));
      firstCounted = true;
      await gate;
      return n;
    });
    await waitFor('the first report recorded', () => firstCounted);
    const second = s2.withTransaction((tx) => tx.fraud.record(r2, at(0)));
    // PostgreSQL: the second waits on the merchant's lock until the first commits.
    if (driver === 'postgres') await waitFor('the second report waiting for the first', async () => (await lockWaiters(s2)) > 0);
    release();
    expect(await first).toBe(1);
    expect(await second).toBe(2);
  });
});
