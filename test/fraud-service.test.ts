import { afterEach, describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, startWorld, type TestWorld } from './helpers/daemon.js';

/**
 * A fraud report's consequences through the payment service and the CLI, with a scripted call engine
 * (the call itself, against sipp: e2e-fraud.test.ts): events, the lock kept once, the operator's
 * commands and their refusals.
 */
describe('fraud reports: service and CLI', () => {
  let w: TestWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  const pay = (t: TestWorld) =>
    t.api('POST', '/v1/payments', { idem: `f-${Math.random()}`, body: { amount: 15000, currency: 'TWD', reference: 'r', description: 'tea', return_url: 'https://shop.example/', login_account: 'alice' } });

  it('declines, tells the merchant twice (declined, then fraud_reported), and locks the allowance once', async () => {
    const t = (w = await startWorld());
    await enrolPrepaid(t, 'alice', '1000');
    t.engine.script.push({ kind: 'fraud_reported' }, { kind: 'fraud_reported' });
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const created = await pay(t);
      ids.push(created.body.id);
      await eventually(async () => expect((await t.api('GET', `/v1/payments/${created.body.id}`)).body).toMatchObject({ status: 'declined', failure_code: 'fraud_reported' }));
    }
    const events = (await t.api('GET', `/v1/events?payment_id=${ids[0]}`)).body.data as Array<{ type: string }>;
    expect(events.map((e) => e.type)).toEqual(['payment.declined', 'payment.fraud_reported']);
    const audit = JSON.parse((await t.cli(['audit', 'list', '--json'])).stdout) as Array<{ actor: string; action: string }>;
    expect(audit.filter((e) => e.actor === 'callpay').map((e) => e.action)).toEqual(['payment.fraud_report', 'consumer.allowance_lock', 'payment.fraud_report']);
    // Auto-disable is off by default.
    expect((await t.ctx.store.merchants.get(t.merchantId)).status).toBe('active');
    const text = (await t.cli(['fraud', 'list'])).stdout;
    expect(text).toContain(ids[0]);
    expect(text).toContain('150.00 TWD');

    const shown = () => t.cli(['consumer', 'show', 'alice', '--json']).then((r) => JSON.parse(r.stdout) as { allowance_locked_at: string | null });
    expect((await shown()).allowance_locked_at).toEqual(expect.any(String));
    expect((await t.cli(['consumer', 'show', 'alice'])).stdout).toContain(`fraud report on ${ids[0]}`);
    expect(await t.cli(['fraud', 'restore-allowance', 'alice', '--json'])).toMatchObject({ code: 0 });
    expect((await shown()).allowance_locked_at).toBeNull();
  });

  it('refuses bad arguments by name, and a restore when nothing is locked', async () => {
    const t = (w = await startWorld());
    await enrolPrepaid(t, 'alice', '1000');
    expect(await t.cli(['fraud', 'list'])).toMatchObject({ code: 0, stdout: expect.stringContaining('no fraud reports') });
    expect(await t.cli(['fraud', 'list', '--since', '2026-12-01'])).toMatchObject({ code: 1, stderr: expect.stringContaining('[invalid_field]') });
    expect(await t.cli(['fraud', 'list', '--merchant', 'cons_1'])).toMatchObject({ code: 1, stderr: expect.stringContaining('[invalid_field]') });
    expect(await t.cli(['fraud', 'restore-allowance', 'alice'])).toMatchObject({ code: 1, stderr: expect.stringContaining('[invalid_state]') });
    expect(await t.cli(['fraud', 'restore-allowance', 'nobody'])).toMatchObject({ code: 1, stderr: expect.stringContaining('[not_found]') });
  });
});

describe('fraud reports: a call cut short by the expiry', () => {
  let w: TestWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it('keeps a report made on the call even though the payment expired meanwhile', async () => {
    const t = (w = await startWorld());
    await enrolPrepaid(t, 'alice', '1000');
    // The consumer keys 0 just as the payment runs out: the engine reports after the hang-up.
    t.engine.script.push((req) => new Promise((resolve) => req.signal.addEventListener('abort', () => resolve({ kind: 'fraud_reported' }), { once: true })));
    const created = await t.api('POST', '/v1/payments', { idem: 'late', body: { amount: 15000, currency: 'TWD', reference: 'r', description: 'tea', return_url: 'https://shop.example/', login_account: 'alice' } });
    expect(created.body.status).toBe('calling');
    await eventually(() => expect(t.engine.requests).toHaveLength(1));
    // Past the payment's expiry and the calls' grace period: the sweeper hangs the call up.
    t.clock.advance(3_600_000);
    await eventually(async () => expect((await t.api('GET', `/v1/payments/${created.body.id}`)).body).toMatchObject({ status: 'declined', failure_code: 'fraud_reported' }), 10_000);
    expect(await t.ctx.store.fraud.list({ limit: 5 })).toHaveLength(1);
  });
});
