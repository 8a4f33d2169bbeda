import { describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, finalOf, type TestWorld } from './helpers/daemon.js';
import { useCallingScene } from './helpers/calling-scene.js';
import { openRtpPhone, receivedAudio, ulaw } from './helpers/rtp-phone.js';
import { startReceiver } from './helpers/receiver.js';
import { usePgWorlds, WORLD_STORES } from './helpers/pg-world.js';
import { verifySignature } from '../src/notify/signature.js';
import { loadPromptSet, SHIPPED_PROMPTS_DIR } from '../src/ivr/prompts.js';
import { GREETING, PHRASES, sayAmount } from '../src/ivr/say/index.js';

/**
 * Fraud reported on a real call (issue 16, item 1): the daemon with the embedded engine calls sipp
 * playing the consumer's phone, which keys 0 during the announcement or after it. The payment is
 * declined fraud_reported, the merchant told, the consumer's allowance locked, the report listed for
 * the operator, and after the configured number of reports the merchant is disabled until enabled.
 */

usePgWorlds();

interface AuditRow { actor: string; action: string; subject: string; details: Record<string, unknown> }

describe.each(WORLD_STORES)('fraud reported on the call (%s)', { timeout: 120_000 }, (store) => {
  const scene = useCallingScene(store, {
    CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000',
    CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '3000',
    // A lone 0 keyed during the announcement is a report once this passes without another key.
    CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '1000',
  });

  const pay = (t: TestWorld, key: string, login = 'alice') =>
    t.api('POST', '/v1/payments', { key, idem: `fraud-${Math.random()}`, body: { amount: 15000, currency: 'TWD', reference: 'fraud', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: login } });

  it('0 during the announcement: declined, reported, allowance locked; N reports disable the merchant until enabled', async () => {
    const receiver = await startReceiver();
    scene.onCleanup(() => receiver.close());
    // 0.5 s after the answer: well inside the announcement (greeting, merchant, amount, fraud hint).
    const phone = await scene.keyingPhone('0', { leadMs: 500, calls: 2, timeoutMs: 60_000 });
    const t = await scene.world(phone, { CALLPAY_RISK_FRAUD_REPORTS_DISABLE_MERCHANT_AFTER: '2', CALLPAY_RISK_FRAUD_REPORTS_WINDOW_HOURS: '1' });
    const merchant = JSON.parse((await t.cli(['merchant', 'add', '--name', 'Shilin Stall', '--webhook-url', receiver.url, '--json'])).stdout) as { id: string; api_key: string; webhook_secret: string };
    const account = await enrolPrepaid(t, 'alice', '1000', ['--locale', 'en-US']);
    const consumerId = (JSON.parse((await t.cli(['consumer', 'show', 'alice', '--json'])).stdout) as { id: string }).id;

    const first = await pay(t, merchant.api_key);
    expect(first.body).toMatchObject({ status: 'calling' });
    expect(await finalOf(t, first.body.id, merchant.api_key)).toMatchObject({ status: 'declined', failure_code: 'fraud_reported' });
    expect(await t.ctx.store.ledger.available(account)).toBe(100000);
    expect(await t.ctx.store.fraud.allowanceLock(consumerId)).toMatchObject({ reason: 'fraud_report', paymentId: first.body.id });

    // The consumer would now skip the call for this amount; the locked allowance makes it call anyway.
    await t.cli(['consumer', 'policy', 'alice', '--call-above', '1000', '--password-above', '1000']);
    const second = await pay(t, merchant.api_key);
    expect(second.body).toMatchObject({ status: 'calling', authentication: { call: true } });
    const decision = await t.query<{ decision: string }>('SELECT decision FROM payments WHERE id = ?', [second.body.id]);
    expect(JSON.parse(decision[0]!.decision).reasons.join('; ')).toContain('locked after a fraud report');
    // Read from the store: this report disables the merchant, whose key the API then refuses.
    await eventually(async () => expect(await t.ctx.store.payments.get(second.body.id)).toMatchObject({ status: 'declined', failureCode: 'fraud_reported' }), 30_000);
    expect((await phone.outcome()).code, phone.logs()).toBe(0);

    // The second report within the hour reached risk.fraudReports.disableMerchantAfter.
    const refused = await pay(t, merchant.api_key);
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'merchant_disabled' } } });

    const types = () => receiver.received.map((r) => (JSON.parse(r.body) as { type: string }).type).sort();
    await eventually(() => expect(types()).toEqual(['merchant.disabled', 'payment.declined', 'payment.declined', 'payment.fraud_reported', 'payment.fraud_reported']), 15_000);
    const disabled = receiver.received.find((r) => r.body.includes('"merchant.disabled"'))!;
    const header = String(disabled.headers['callpay-signature']);
    expect(verifySignature(header, disabled.body, merchant.webhook_secret, { now: Number(/t=(\d+)/.exec(header)?.[1]) })).toBe(true);
    expect(JSON.parse(disabled.body)).toMatchObject({ data: { merchant: { id: merchant.id, status: 'disabled' }, reason: 'fraud_reports', fraud_reports: 2, window_hours: 1 } });
    const reported = receiver.received.map((r) => JSON.parse(r.body) as { type: string; data: { payment: { id: string; failure_code: string } } }).filter((e) => e.type === 'payment.fraud_reported');
    expect(reported.map((e) => e.data.payment.id).sort()).toEqual([first.body.id, second.body.id].sort());
    expect(reported[0]!.data.payment.failure_code).toBe('fraud_reported');

    const listed = JSON.parse((await t.cli(['fraud', 'list', '--merchant', merchant.id, '--json'])).stdout) as Array<{ payment_id: string; consumer_id: string; amount: number }>;
    expect(listed).toEqual([
      expect.objectContaining({ payment_id: second.body.id, consumer_id: consumerId, amount: 15000 }),
      expect.objectContaining({ payment_id: first.body.id, consumer_id: consumerId, amount: 15000 }),
    ]);

    // The operator reverses both: the merchant takes payments again, the allowance skips the call again.
    expect((await t.cli(['merchant', 'enable', merchant.id])).code).toBe(0);
    expect((await t.cli(['fraud', 'restore-allowance', 'alice'])).code).toBe(0);
    const after = await pay(t, merchant.api_key);
    expect(after.body).toMatchObject({ status: 'succeeded', authentication: { call: false } });

    const audit = JSON.parse((await t.cli(['audit', 'list', '--json', '--limit', '1000'])).stdout) as AuditRow[];
    const mine = audit.filter((e) => ['payment.fraud_report', 'consumer.allowance_lock', 'consumer.allowance_unlock', 'merchant.disable', 'merchant.enable'].includes(e.action));
    expect(mine.map((e) => [e.actor === 'callpay' ? 'callpay' : 'operator', e.action, e.subject])).toEqual([
      ['callpay', 'payment.fraud_report', first.body.id],
      ['callpay', 'consumer.allowance_lock', consumerId],
      ['callpay', 'payment.fraud_report', second.body.id],
      ['callpay', 'merchant.disable', merchant.id],
      ['operator', 'merchant.enable', merchant.id],
      ['operator', 'consumer.allowance_unlock', consumerId],
    ]);
    expect(mine[3]!.details).toMatchObject({ reason: 'fraud_reports', fraud_reports: 2, window_hours: 1 });
    expect((await t.cli(['audit', 'verify'])).code).toBe(0);
  });

  it('0 then # after the announcement: the hint was said, the report confirmed aloud; the merchant stays enabled by default', async () => {
    const rtp = await openRtpPhone();
    scene.onCleanup(() => rtp.close());
    const phone = await scene.phone({ scenario: 'answer-capture', vars: { rtp_port: String(rtp.port) }, timeoutMs: 40_000 });
    const t = await scene.world(phone);
    await enrolPrepaid(t, 'alice', '1000', ['--locale', 'en-US']);
    const merchant = JSON.parse((await t.cli(['merchant', 'add', '--name', 'Stall', '--json'])).stdout) as { id: string; api_key: string; voice_clip: string };
    const created = await pay(t, merchant.api_key);

    const prompts = await loadPromptSet(SHIPPED_PROMPTS_DIR, 'en-US');
    const announcement = [...GREETING.map((c) => prompts.clip(c)), merchant.voice_clip, prompts.clip(PHRASES.requestsPaymentOf),
      ...sayAmount(15000, 'TWD', 'en-US').map((c) => prompts.clip(c)), prompts.clip(PHRASES.fraudHint)];
    const announced = Buffer.concat(announcement.map(ulaw));
    const pinPrompt = ulaw(prompts.clip(PHRASES.enterPin));
    const audio = () => receivedAudio(rtp.packets);
    // The whole announcement and the PIN prompt are heard before the 0 is keyed.
    await eventually(() => expect(audio().length).toBeGreaterThan(announced.length + pinPrompt.length + 1600), 30_000);
    await rtp.sendDigits('0#');
    expect(await finalOf(t, created.body.id, merchant.api_key)).toMatchObject({ status: 'declined', failure_code: 'fraud_reported' });

    const stream = audio();
    const at = stream.indexOf(announced);
    expect(at, 'announcement, fraud hint last, contiguous in the received stream').toBeGreaterThanOrEqual(0);
    const prompt = stream.indexOf(pinPrompt, at + announced.length);
    expect(prompt).toBeGreaterThan(at);
    await eventually(() => expect(audio().indexOf(ulaw(prompts.clip(PHRASES.fraudReported)), prompt + pinPrompt.length)).toBeGreaterThan(prompt), 10_000);

    expect((await t.ctx.store.merchants.get(merchant.id)).status).toBe('active');
    const listed = JSON.parse((await t.cli(['fraud', 'list', '--json'])).stdout) as Array<{ payment_id: string }>;
    expect(listed.map((r) => r.payment_id)).toEqual([created.body.id]);
  });

  it('a PIN that starts with 0, keyed during the announcement, is checked as a PIN', async () => {
    const phone = await scene.keyingPhone('0482#', { leadMs: 500, timeoutMs: 60_000 });
    const t = await scene.world(phone);
    await t.cli(['consumer', 'add', '--login', 'zoe', '--phone', '+886912345678', '--national-id', 'A123456789', '--address', 'No. 7, Section 1', '--pin-stdin'], '0482\n');
    const acct = JSON.parse((await t.cli(['account', 'add', 'zoe', '--kind', 'mobile', '--number', '0911222333', '--plan', 'prepaid', '--json'])).stdout) as { id: string };
    await t.cli(['account', 'topup', acct.id, '--amount', '1000']);
    const created = await pay(t, t.apiKey, 'zoe');
    expect(await finalOf(t, created.body.id)).toMatchObject({ status: 'succeeded' });
    expect(await t.ctx.store.fraud.list({ limit: 10 })).toEqual([]);
  });
});
