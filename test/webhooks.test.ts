import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tempDir, type CliResult, jsonOf } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';
import { startReceiver, type Received } from './helpers/receiver.js';
import { openContext, type AppContext } from '../src/wiring/context.js';
import Database from 'better-sqlite3';
import { openStore } from '../src/wiring/stores.js';
import type { Store } from '../src/payments/repositories.js';
import { createWebhookDispatcher, retryDelayMs, type WebhookDispatcher } from '../src/notify/dispatcher.js';
import { signatureHeader, verifySignature } from '../src/notify/signature.js';

const json = jsonOf;

interface Delivery { status: string; attempts: number; last_status: number | null; next_attempt_at: string; give_up_at: string }

describe('webhooks', () => {
  let dir: ReturnType<typeof tempDir>;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let ctx: AppContext;
  let merchantId: string;
  let secret: string;
  let now: Date;
  let logs: string;
  let store: Store;
  let db: Database.Database;
  let dispatcher: WebhookDispatcher;
  const clock = () => now;
  const nowSeconds = () => Math.floor(now.getTime() / 1000);
  const cli = (args: string[]) => runCli(args, { cwd: dir.path });
  const advance = (ms: number) => (now = new Date(now.getTime() + ms));
  const appendEvent = () =>
    store.withTransaction((tx) => tx.events.append(merchantId, 'payment.succeeded', null, { amount: 120, currency: 'TWD' }));
  const deliveries = (eventSeq: number) =>
    db.prepare('SELECT * FROM webhook_deliveries WHERE event_seq = ? ORDER BY created_at, rowid').all(eventSeq) as Delivery[];
  const verifies = (r: Received | undefined, key: string) =>
    verifySignature(String(r?.headers['callpay-signature']), r?.body ?? '', key, { now: nowSeconds() });

  beforeEach(async () => {
    dir = tempDir();
    receiver = await startReceiver();
    expect((await cli(['init'])).code).toBe(0);
    const added = json<{ id: string; webhook_secret: string }>(await cli(['merchant', 'add', '--name', 'Stall 12', '--webhook-url', receiver.url, '--json']));
    merchantId = added.id;
    secret = added.webhook_secret;
    now = new Date();
    logs = '';
    ctx = await openContext({ logLevel: 'debug' }, { cwd: dir.path, env: {}, logDestination: { write: (l: string) => void (logs += l) } });
    // The store on the test's clock (deliveries are scheduled by it); a plain connection to look at rows.
    store = await openStore(ctx.config, ctx.keyring, clock);
    db = new Database(ctx.config.database);
    dispatcher = createWebhookDispatcher({
      deliveries: store.deliveries, secrets: store.webhookSecrets, clock, log: ctx.log, timeoutMs: 2000, pollIntervalMs: 50,
    });
  });
  afterEach(async () => {
    await dispatcher.stop();
    db.close();
    await store.close();
    await ctx.close();
    await receiver.close();
    dir.remove();
  });

  it('delivers a signed event once and marks it delivered; secrets stay out of logs', async () => {
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const event = await appendEvent();
    expect(await dispatcher.runOnce()).toBe(1);
    expect(await dispatcher.runOnce()).toBe(0);
    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0];
    expect(got?.headers['content-type']).toBe('application/json');
    expect(got?.headers['callpay-event-id']).toBe(event.id);
    expect(got?.headers['user-agent']).toBe('callpay-webhooks/1');
    expect(JSON.parse(got?.body ?? '')).toEqual({ id: event.id, type: 'payment.succeeded', created_at: event.createdAt, data: { amount: 120, currency: 'TWD' } });
    expect(verifies(got, secret)).toBe(true);
    expect(deliveries(event.seq)).toMatchObject([{ status: 'delivered', attempts: 1, last_status: 200 }]);
    expect(logs).toContain('webhook delivered');
    expect(logs).toContain(event.id);
    expect(logs).not.toContain(secret);
    expect(logs).not.toContain(String(got?.headers['callpay-signature']).slice(-64));
    // Sealed at rest: the plaintext is in neither the database nor its WAL.
    for (const f of readdirSync(dir.path).filter((n) => n.startsWith('callpay.db'))) {
      expect(readFileSync(join(dir.path, f)).includes(Buffer.from(secret))).toBe(false);
    }
  });

  it('rejects a wrong secret, a stale or future timestamp and a changed body', () => {
    const body = '{"id":"evt_1"}';
    const t = Math.floor(Date.now() / 1000);
    expect(verifySignature(signatureHeader([secret], body, t), body, secret)).toBe(true);
    expect(verifySignature(signatureHeader([secret], body, t), body, 'whsec_other')).toBe(false);
    expect(verifySignature(signatureHeader([secret], body, t - 301), body, secret)).toBe(false);
    expect(verifySignature(signatureHeader([secret], body, t + 301), body, secret)).toBe(false);
    expect(verifySignature(signatureHeader([secret], body, t), `${body} `, secret)).toBe(false);
    expect(verifySignature('v1=abc', body, secret)).toBe(false);
  });

  it('retries after a 500 with backoff and delivers on the second attempt', async () => {
    receiver.replies.push(500);
    const event = await appendEvent();
    expect(await dispatcher.runOnce()).toBe(1);
    const [first] = deliveries(event.seq);
    expect(first).toMatchObject({ status: 'pending', attempts: 1, last_status: 500 });
    const delay = Date.parse(first?.next_attempt_at ?? '') - now.getTime();
    expect(delay).toBeGreaterThanOrEqual(9_000);
    expect(delay).toBeLessThanOrEqual(11_000);
    expect(await dispatcher.runOnce()).toBe(0); // not due yet
    advance(11_000);
    expect(await dispatcher.runOnce()).toBe(1);
    expect(deliveries(event.seq)).toMatchObject([{ status: 'delivered', attempts: 2, last_status: 200 }]);
    expect(receiver.received.map((r) => verifies(r, secret))).toEqual([true, true]);
  });

  it('grows the delay to every 4 hours, with jitter within 10 %', () => {
    expect([1, 2, 3, 4, 8, 9, 30].map((a) => retryDelayMs(a, () => 0.5))).toEqual([10_000, 30_000, 60_000, 300_000, 7_200_000, 14_400_000, 14_400_000]);
    expect(retryDelayMs(1, () => 0)).toBe(9_000);
    expect(retryDelayMs(1, () => 1)).toBe(11_000);
  });

  it('signs with both secrets during a rotation, only the new one after the overlap', async () => {
    const fresh = await store.webhookSecrets.rotate(merchantId, 24);
    expect(await store.webhookSecrets.active(merchantId)).toEqual([fresh, secret]);
    await appendEvent();
    await dispatcher.runOnce();
    const during = receiver.received[0];
    expect(String(during?.headers['callpay-signature']).match(/v1=/g)).toHaveLength(2);
    expect([verifies(during, secret), verifies(during, fresh)]).toEqual([true, true]);
    advance(25 * 3_600_000);
    await appendEvent();
    await dispatcher.runOnce();
    const after = receiver.received[1];
    expect([verifies(after, secret), verifies(after, fresh)]).toEqual([false, true]);
  });

  it('gives up after give_up_at: the delivery is failed and never tried again', async () => {
    receiver.replies.push(500, 503, 500);
    const event = await appendEvent();
    await dispatcher.runOnce();
    advance(72 * 3_600_000 - 5_000);
    await dispatcher.runOnce();
    // The last try falls on give_up_at itself.
    expect(deliveries(event.seq)[0]).toMatchObject({ status: 'pending', attempts: 2 });
    expect(deliveries(event.seq)[0]?.next_attempt_at).toBe(deliveries(event.seq)[0]?.give_up_at);
    advance(2 * 3_600_000);
    expect(await dispatcher.runOnce()).toBe(1);
    expect(deliveries(event.seq)).toMatchObject([{ status: 'failed', attempts: 3, last_status: 500 }]);
    advance(24 * 3_600_000);
    expect(await dispatcher.runOnce()).toBe(0);
    const listed = json<Array<{ status: string; attempts: number }>>(await cli(['webhook', 'list', '--status', 'failed', '--json']));
    expect(listed).toMatchObject([{ status: 'failed', attempts: 3 }]);
  });

  it('claims each row once: two overlapping passes send one request', async () => {
    await appendEvent();
    const counts = await Promise.all([dispatcher.runOnce(), dispatcher.runOnce()]);
    expect(counts.sort()).toEqual([0, 1]);
    expect(receiver.received).toHaveLength(1);
  });

  it('records a refused connection and a redirect as failed attempts', async () => {
    receiver.replies.push(302);
    const event = await appendEvent();
    await dispatcher.runOnce();
    const row = db.prepare('SELECT last_error FROM webhook_deliveries WHERE event_seq = ?').pluck().get(event.seq);
    expect(row).toMatch(/^HTTP 302 \(redirects are not followed\)/);
    await receiver.close();
    advance(60_000);
    await dispatcher.runOnce();
    const again = db.prepare('SELECT attempts, last_error FROM webhook_deliveries WHERE event_seq = ?').get(event.seq);
    expect(again).toEqual({ attempts: 2, last_error: 'connection failed: ECONNREFUSED' });
  });

  it('runs on its own after start() and stop() waits for it', async () => {
    const event = await appendEvent();
    dispatcher.start();
    await waitFor('the dispatcher to deliver the event by itself', () => deliveries(event.seq)[0]?.status === 'delivered', { timeoutMs: 2000 });
    await dispatcher.stop();
    expect(deliveries(event.seq)).toMatchObject([{ status: 'delivered' }]);
  });

  it('webhook replay --event enqueues a second delivery that is delivered', async () => {
    const event = await appendEvent();
    await dispatcher.runOnce();
    const replayed = json<{ deliveries: Array<{ event_id: string }> }>(await cli(['webhook', 'replay', '--event', event.id, '--json']));
    expect(replayed.deliveries).toMatchObject([{ event_id: event.id }]);
    advance(1_000);
    expect(await dispatcher.runOnce()).toBe(1);
    expect(deliveries(event.seq)).toMatchObject([{ status: 'delivered' }, { status: 'delivered', attempts: 1 }]);
    expect(receiver.received.map((r) => r.headers['callpay-event-id'])).toEqual([event.id, event.id]);
    const listed = await cli(['webhook', 'list', '--merchant', merchantId]);
    expect(listed.stdout.trim().split('\n')).toHaveLength(3); // header + two deliveries
  });

  it('webhook replay refuses an unknown event and a merchant without a webhook URL', async () => {
    const unknown = await cli(['webhook', 'replay', '--event', 'evt_nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toContain('[not_found]');
    expect(unknown.stderr).toContain('event');

    const other = json<{ id: string }>(await cli(['merchant', 'add', '--name', 'No Hooks', '--json']));
    await store.withTransaction((tx) => tx.events.append(other.id, 'payment.failed', null, {}));
    const noUrl = await cli(['webhook', 'replay', '--merchant', other.id]);
    expect(noUrl.code).toBe(1);
    expect(noUrl.stderr).toMatch(/^callpay: merchant: .* has no webhook URL \[invalid_field\]\n$/);

    expect((await cli(['webhook', 'replay'])).stderr).toBe('callpay: event: give either --event or --merchant [invalid_field]\n');
    expect((await cli(['merchant', 'rotate-webhook-secret', 'mer_nope'])).stderr).toContain('[not_found]');
  });

  it('merchant rotate-webhook-secret prints a new secret once; both verify until the overlap ends', async () => {
    const rotated = json<{ webhook_secret: string; previous_valid_until: string }>(
      await cli(['merchant', 'rotate-webhook-secret', merchantId, '--overlap-hours', '2', '--json']),
    );
    expect(rotated.webhook_secret).toMatch(/^whsec_/);
    expect(rotated.webhook_secret).not.toBe(secret);
    expect(await ctx.store.webhookSecrets.active(merchantId)).toEqual([rotated.webhook_secret, secret]);
    advance(3 * 3_600_000);
    expect(await store.webhookSecrets.active(merchantId)).toEqual([rotated.webhook_secret]);
  });
});
