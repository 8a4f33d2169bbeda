import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, startWorld, type TestWorld } from './helpers/daemon.js';
import { startReceiver } from './helpers/receiver.js';
import { usePgWorlds, WORLD_STORES } from './helpers/pg-world.js';
import { verifySignature } from '../src/notify/signature.js';

usePgWorlds();

/** The running daemon delivers a signed payment.succeeded, retrying after the merchant's 500. */
describe.each(WORLD_STORES)('webhooks from the daemon (%s)', (store) => {
  let w: TestWorld;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    receiver = await startReceiver();
    w = await startWorld({}, { store });
  });
  afterAll(async () => {
    await w.close();
    await receiver.close();
  });

  it('signs, retries after a 500 and delivers once acknowledged', async () => {
    const merchant = JSON.parse((await w.cli(['merchant', 'add', '--name', 'Hooked Shop', '--webhook-url', receiver.url, '--json'])).stdout) as { api_key: string; webhook_secret: string };
    await enrolPrepaid(w, 'alice', '1000');
    receiver.replies.push(500);
    w.engine.script.push({ kind: 'approved' });
    const created = await w.api('POST', '/v1/payments', {
      key: merchant.api_key, idem: 'hook-1',
      body: { amount: 15000, reference: 'o-9', description: 'Stinky tofu', return_url: 'https://shop.example/', login_account: 'alice' },
    });
    await eventually(() => expect(receiver.received.length).toBe(1));
    // The receiver has the request before the dispatcher has recorded its 500 and scheduled the retry:
    // move the clock past the retry only once that is written, or the next pass finds nothing due.
    await eventually(async () => expect((await w.query('SELECT attempts FROM webhook_deliveries ORDER BY created_at DESC LIMIT 1'))[0]).toEqual({ attempts: 1 }));
    w.clock.advance(12_000);
    await w.daemon.dispatcher.runOnce();
    await eventually(() => expect(receiver.received.length).toBe(2));
    const [first, second] = receiver.received;
    expect(second?.body).toBe(first?.body);
    const body = JSON.parse(second?.body ?? '{}') as { type: string; data: { payment: { id: string; status: string } } };
    expect(body.type).toBe('payment.succeeded');
    expect(body.data.payment).toMatchObject({ id: created.body.id, status: 'succeeded' });
    const header = String(second?.headers['callpay-signature']);
    const t = Number(/t=(\d+)/.exec(header)?.[1]);
    expect(verifySignature(header, second?.body ?? '', merchant.webhook_secret, { now: t })).toBe(true);
    expect(verifySignature(header, second?.body ?? '', 'whsec_wrong', { now: t })).toBe(false);
    const rows = await w.query('SELECT status, attempts FROM webhook_deliveries ORDER BY created_at DESC LIMIT 1');
    expect(rows).toEqual([{ status: 'delivered', attempts: 2 }]);
  });
});
