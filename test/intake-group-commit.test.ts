import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolPrepaid, startWorld, type TestWorld } from './helpers/daemon.js';
import { usePgWorlds, WORLD_STORES } from './helpers/pg-world.js';

const order = (extra: Record<string, unknown> = {}) => ({
  amount: 1500, currency: 'TWD', reference: 'burst', description: 'Bubble tea', return_url: 'https://shop.example/done', ...extra,
});

usePgWorlds();

/**
 * Many merchant requests at once, as group commit sees them on SQLite (on PostgreSQL each request
 * keeps its own transaction): every 201 names a payment already committed, a request refused
 * inside the batch leaves nothing behind, and one Idempotency-Key sent several times at once is
 * one payment.
 */
describe.each(WORLD_STORES)('intake under concurrent requests (%s)', (store) => {
  let w: TestWorld;
  const paymentCount = async () => Number((await w.query<{ n: number }>('SELECT count(*) AS n FROM payments'))[0]?.n);

  beforeAll(async () => {
    w = await startWorld({ CALLPAY_RATE_LIMIT_BURST: '1000' }, { store });
    await enrolPrepaid(w, 'alice', '1000');
  });
  afterAll(async () => w.close());

  it('answers each request after its own commit, isolates a refused one, and keeps one payment per key', async () => {
    const before = await paymentCount();
    const seenAtReply: boolean[] = [];
    const post = async (idem: string, body: Record<string, unknown>) => {
      const res = await w.api('POST', '/v1/payments', { idem, body });
      if (res.status === 201) {
        // Read on another connection as the reply arrives: the payment must already be committed.
        seenAtReply.push((await w.query('SELECT id FROM payments WHERE id = ?', [res.body.id as string])).length === 1);
      }
      return res;
    };
    const distinct = Array.from({ length: 12 }, (_, i) => post(`burst-${store}-${i}`, order({ reference: `burst-${i}` })));
    const same = Array.from({ length: 4 }, () => post(`burst-${store}-same`, order({ reference: 'same' })));
    const refused = post(`burst-${store}-refused`, order({ login_account: 'nobody-by-this-name' }));
    const [ok, dup, bad] = await Promise.all([Promise.all(distinct), Promise.all(same), refused]);

    expect(ok.map((r) => r.status)).toEqual(Array(12).fill(201));
    expect(new Set(ok.map((r) => r.body.id)).size).toBe(12);
    expect(dup.map((r) => r.status)).toEqual(Array(4).fill(201));
    expect(new Set(dup.map((r) => r.body.id)).size).toBe(1);
    expect(dup.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(3);
    expect(bad.body.error.code).toBe('unknown_consumer');
    expect(seenAtReply).toEqual(Array(16).fill(true));
    // 12 + 1: the refused request's payment row was rolled back with its savepoint
    expect(await paymentCount()).toBe(before + 13);
    // and its refusal is what a retry gets
    const retry = await w.api('POST', '/v1/payments', { idem: `burst-${store}-refused`, body: order({ login_account: 'nobody-by-this-name' }) });
    expect(retry.body.error.code).toBe('unknown_consumer');
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
  });
});
