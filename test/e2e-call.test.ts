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
 * A payment from a merchant's POST to a charged bill through a real SIP call: `serve`'s daemon with
 * the embedded engine calls sipp playing the consumer's phone, which keys the PIN.
 */

usePgWorlds();

describe.each(WORLD_STORES)('end to end: payment authorized by a real call (%s)', { timeout: 90_000 }, (store) => {
  const scene = useCallingScene(store, {
    CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000',
    CALLPAY_IVR_RETRY_DELAY_MS: '300',
    CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '2000',
    CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '2000',
  });

  const pay = (t: TestWorld, login: string, key = t.apiKey) =>
    t.api('POST', '/v1/payments', { key, idem: `e2e-${Math.random()}`, body: { amount: 15000, currency: 'TWD', reference: 'e2e', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: login } });

  it('takes a payment through a real call: PIN keyed, charged once, signed webhook delivered', async () => {
    const receiver = await startReceiver();
    scene.onCleanup(() => receiver.close());
    const phone = await scene.keyingPhone('482916#');
    const t = await scene.world(phone);
    const merchant = JSON.parse((await t.cli(['merchant', 'add', '--name', 'Shilin Stall', '--webhook-url', receiver.url, '--json'])).stdout) as { api_key: string; webhook_secret: string };
    const account = await enrolPrepaid(t, 'alice', '1000', ['--locale', 'en-US']);
    const created = await pay(t, 'alice', merchant.api_key);
    expect(created.body).toMatchObject({ status: 'calling', live: true });
    const done = await finalOf(t, created.body.id, merchant.api_key);
    expect(done).toMatchObject({ status: 'succeeded' });
    expect(await t.ctx.store.ledger.available(account)).toBe(100000 - 15000);
    // in the order made: by time, then the hold before what resolves it
    const transfers = await t.query<{ kind: string }>('SELECT kind FROM transfers WHERE payment_id = ? ORDER BY created_at, kind', [created.body.id]);
    expect(transfers.map((r) => r.kind)).toEqual(['hold', 'post']);
    const attempts = await t.query('SELECT outcome, sip_status AS "sipStatus", digit_count AS digits FROM call_attempts WHERE payment_id = ?', [created.body.id]);
    expect(attempts).toEqual([{ outcome: 'answered', sipStatus: 200, digits: 7 }]);
    await eventually(() => expect(receiver.received.length).toBe(1), 10_000);
    const delivery = receiver.received[0]!;
    const header = String(delivery.headers['callpay-signature']);
    expect(verifySignature(header, delivery.body, merchant.webhook_secret, { now: Number(/t=(\d+)/.exec(header)?.[1]) })).toBe(true);
    expect(JSON.parse(delivery.body)).toMatchObject({ type: 'payment.succeeded', data: { payment: { id: created.body.id, status: 'succeeded', live: true } } });
    expect((await phone.outcome()).code, phone.logs()).toBe(0);
  });

  it('declines after three wrong PINs, and on "*"', async () => {
    const phone = await scene.keyingPhone('1111#2222#3333#');
    const t = await scene.world(phone);
    const account = await enrolPrepaid(t, 'alice', '1000');
    const created = await pay(t, 'alice');
    expect(await finalOf(t, created.body.id)).toMatchObject({ status: 'declined', failure_code: 'wrong_pin' });
    expect(await t.ctx.store.ledger.available(account)).toBe(100000);
    expect(await t.query('SELECT count(*) AS n FROM pin_failures')).toEqual([{ n: 3 }]);
    await phone.stop();

    // A world of its own (scene.world closes the first one), called on a phone that keys "*".
    const t2 = await scene.world(await scene.keyingPhone('*'));
    await enrolPrepaid(t2, 'bob', '1000');
    const star = await pay(t2, 'bob');
    expect(await finalOf(t2, star.body.id)).toMatchObject({ status: 'declined', failure_code: 'consumer_declined' });
  });

  it('retries a busy phone and succeeds when it answers', async () => {
    const phone = await scene.keyingPhone('482916#', { scenario: 'busy-then-answer', calls: 2 });
    const t = await scene.world(phone);
    await enrolPrepaid(t, 'alice', '1000');
    const created = await pay(t, 'alice');
    expect(await finalOf(t, created.body.id)).toMatchObject({ status: 'succeeded' });
    const attempts = await t.query('SELECT attempt, outcome, sip_status AS "sipStatus" FROM call_attempts WHERE payment_id = ? ORDER BY attempt', [created.body.id]);
    expect(attempts).toEqual([{ attempt: 1, outcome: 'busy', sipStatus: 486 }, { attempt: 2, outcome: 'answered', sipStatus: 200 }]);
  });

  it('fails with no_answer when the phone never answers (CANCEL after the ring timeout, retries included)', async () => {
    const phone = await scene.phone({ scenario: 'ring-forever', calls: 2, timeoutMs: 40_000 });
    const t = await scene.world(phone, { CALLPAY_IVR_RETRY_ATTEMPTS: '1' });
    await enrolPrepaid(t, 'alice', '1000');
    const created = await pay(t, 'alice');
    expect(await finalOf(t, created.body.id)).toMatchObject({ status: 'failed', failure_code: 'no_answer' });
    expect(await t.query('SELECT count(*) AS n FROM call_attempts WHERE payment_id = ?', [created.body.id])).toEqual([{ n: 2 }]);
  });

  it('never dials a locked consumer', async () => {
    const phone = await scene.phone({ scenario: 'busy', timeoutMs: 10_000 });
    const t = await scene.world(phone);
    await enrolPrepaid(t, 'alice', '1000');
    await t.cli(['consumer', 'lock', 'alice']);
    const created = await pay(t, 'alice');
    expect(created.body).toMatchObject({ status: 'declined', failure_code: 'consumer_locked' });
    // Declined when created: a call is only ever placed for a payment in 'calling', which this one never was.
    const transitions = (await t.api('GET', `/v1/payments/${created.body.id}/transitions`)).body.data as Array<{ to: string }>;
    expect(transitions.at(-1)).toMatchObject({ to: 'declined' });
    expect(transitions.map((x) => x.to)).not.toContain('calling');
    expect(await t.query('SELECT count(*) AS n FROM call_attempts WHERE payment_id = ?', [created.body.id])).toEqual([{ n: 0 }]);
    expect(phone.messages()).not.toContain('INVITE');
  });

  it('fails with the reason when the phone hangs up during the announcement', async () => {
    const phone = await scene.phone({ scenario: 'hangup-during-playback', vars: { hangup_after_ms: '700' }, timeoutMs: 20_000 });
    const t = await scene.world(phone);
    await enrolPrepaid(t, 'alice', '1000');
    const created = await pay(t, 'alice');
    expect(await finalOf(t, created.body.id)).toMatchObject({ status: 'failed', failure_code: 'hung_up' });
    const transitions = (await t.api('GET', `/v1/payments/${created.body.id}/transitions`)).body.data as Array<{ to: string; reason: string }>;
    expect(transitions.at(-1)).toMatchObject({ to: 'failed', reason: 'call: hung_up' });
  });

  it.each(['en-US', 'zh-TW'] as const)('plays the announcement clip by clip (%s), as the phone records it', async (locale) => {
    const rtp = await openRtpPhone();
    scene.onCleanup(() => rtp.close());
    const phone = await scene.phone({ scenario: 'answer-capture', vars: { rtp_port: String(rtp.port) }, timeoutMs: 40_000 });
    // Clip by clip is the subject here; zh-TW's phrase reading has its own test (e2e-prompt-pack.test.ts).
    const t = await scene.world(phone, { CALLPAY_IVR_AMOUNT_PHRASES: 'false' });
    await enrolPrepaid(t, 'alice', '1000', ['--locale', locale]);
    const merchant = JSON.parse((await t.cli(['merchant', 'add', '--name', 'Stall', '--json'])).stdout) as { api_key: string; voice_clip: string };
    const created = await pay(t, 'alice', merchant.api_key);

    const prompts = await loadPromptSet(SHIPPED_PROMPTS_DIR, locale);
    const announcement = [...GREETING.map((c) => prompts.clip(c)), merchant.voice_clip, prompts.clip(PHRASES.requestsPaymentOf),
      ...sayAmount(15000, 'TWD', locale).map((c) => prompts.clip(c)), prompts.clip(PHRASES.fraudHint), prompts.clip(PHRASES.enterPin)];
    const expected = Buffer.concat(announcement.map((file) => ulaw(file)));
    // Everything up to the end of the PIN prompt, then key the PIN.
    await eventually(() => expect(rtp.packets.filter((p) => p.payloadType === 0).length * 160).toBeGreaterThan(expected.length + 1600), 30_000);
    await rtp.sendDigits('482916#');
    expect(await finalOf(t, created.body.id, merchant.api_key)).toMatchObject({ status: 'succeeded' });

    const stream = receivedAudio(rtp.packets);
    // The announcement and the prompt are two plays: each is its clips back to back, byte for byte.
    const announced = Buffer.concat(announcement.slice(0, -1).map((file) => ulaw(file)));
    const at = stream.indexOf(announced);
    expect(at, 'announcement clips contiguous in the received stream').toBeGreaterThanOrEqual(0);
    const pinPrompt = ulaw(announcement.at(-1)!);
    expect(stream.indexOf(pinPrompt, at + announced.length)).toBeGreaterThan(at);
  });
});
