import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, finalOf, startCallingWorld, startWorld, type TestWorld } from './helpers/daemon.js';
import { startReceiver } from './helpers/receiver.js';
import { startSipp, type Sipp } from './helpers/sipp.js';
import { writeDtmfPcap } from './helpers/pcap.js';

/** One sample of the text exposition format: name, labels, value. */
interface Sample { name: string; labels: Record<string, string>; value: number }

function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(w: TestWorld): Promise<{ text: string; get(name: string, labels?: Record<string, string>): number }> {
  const res = await fetch(`${w.daemon.adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  const text = await res.text();
  const samples = parse(text);
  return {
    text,
    get: (name, labels = {}) => samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0),
  };
}

const order = (login: string, extra: Record<string, unknown> = {}) => ({
  amount: 15000, currency: 'TWD', reference: 'm', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: login, ...extra,
});

/** Issue 13, item 1: counts that match what was done, on the admin listener only, with bounded labels. */
describe('Prometheus metrics', { timeout: 90_000 }, () => {
  let w: TestWorld | undefined;
  let sipp: Sipp | undefined;
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    await w?.close();
    await sipp?.stop();
    for (const c of cleanups.splice(0)) await c();
    w = undefined;
    sipp = undefined;
  });

  it('counts payments by status and reason, webhooks and HTTP routes, on the admin listener only', async () => {
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    w = await startWorld({ CALLPAY_RATE_LIMIT_BURST: '1000' });
    const t = w;
    expect(t.daemon.adminUrl).not.toBeNull();
    expect(new URL(t.daemon.adminUrl!).port).not.toBe(new URL(t.daemon.url).port);
    expect((await fetch(`${t.daemon.url}/metrics`)).status).toBe(404); // never on the public port

    const merchant = JSON.parse((await t.cli(['merchant', 'add', '--name', 'Hooked', '--webhook-url', receiver.url, '--json'])).stdout) as { api_key: string };
    await enrolPrepaid(t, 'alice', '10000');
    const outcomes = [{ kind: 'approved' }, { kind: 'approved' }, { kind: 'approved' }, { kind: 'wrong_pin' }, { kind: 'busy' }] as const;
    t.engine.script.push(...outcomes);
    for (let i = 0; i < outcomes.length; i++) {
      const r = await t.api('POST', '/v1/payments', { key: merchant.api_key, idem: `m-${i}`, body: order('alice') });
      expect(r.status).toBe(201);
      await finalOf(t, r.body.id, merchant.api_key);
    }
    await eventually(() => expect(receiver.received.length).toBe(outcomes.length), 15_000);
    expect((await t.api('GET', '/v1/payments/pay_doesnotexist', { key: merchant.api_key })).status).toBe(404);

    const m = await eventually(async () => {
      const s = await scrape(t);
      expect(s.get('callpay_webhook_deliveries_total', { result: 'delivered' })).toBe(outcomes.length);
      return s;
    }, 15_000);
    expect(m.get('callpay_payments_created_total')).toBe(5);
    expect(m.get('callpay_payments_ended_total', { status: 'succeeded', reason: 'none' })).toBe(3);
    expect(m.get('callpay_payments_ended_total', { status: 'declined', reason: 'wrong_pin' })).toBe(1);
    expect(m.get('callpay_payments_ended_total', { status: 'failed', reason: 'busy' })).toBe(1);
    expect(m.get('callpay_webhook_outbox_pending')).toBe(0);
    expect(m.get('callpay_http_requests_total', { route: '/v1/payments', method: 'POST', status: '201' })).toBe(5);
    expect(m.get('callpay_http_requests_total', { route: '/v1/payments/:id', method: 'GET', status: '404' })).toBe(1);
    expect(m.get('callpay_http_request_duration_seconds_count', { route: '/v1/payments', method: 'POST' })).toBe(5);
    expect(m.get('callpay_sqlite_wal_bytes')).toBeGreaterThan(0);
    expect(m.get('nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
    expect(m.text).toContain('nodejs_eventloop_lag_p99_seconds');
    // Bounded labels: no payment id, no merchant id (not enabled), no phone number.
    expect(m.text).not.toMatch(/(?<![a-z])pay_[A-Za-z0-9]{6,}|mer_[A-Za-z0-9]{6,}|886912345678|merchant="/);
  });

  it('labels by merchant only when the operator enables it', async () => {
    w = await startWorld({ CALLPAY_ADMIN_MERCHANT_LABELS: 'true' });
    const t = w;
    await enrolPrepaid(t, 'bob', '1000');
    t.engine.script.push({ kind: 'approved' });
    const r = await t.api('POST', '/v1/payments', { idem: 'one', body: order('bob') });
    await finalOf(t, r.body.id);
    expect((await scrape(t)).get('callpay_payments_ended_total', { status: 'succeeded', merchant: t.merchantId })).toBe(1);
  });

  it('counts a real call: outcome and SIP status, setup, PIN entry and duration histograms, PIN results, media', async () => {
    const pcap = join(tmpdir(), `callpay-metrics-${process.pid}-${Date.now()}.pcap`);
    cleanups.push(() => rmSync(pcap, { force: true }));
    writeDtmfPcap(pcap, { digits: '111111#482916#', leadMs: 1500, silencePayloadType: 0, gapMs: 150 });
    sipp = await startSipp({ scenario: 'answer-dtmf', pcap, timeoutMs: 40_000 });
    w = await startCallingWorld(sipp.port, {
      CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000', CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '3000', CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '2000',
    });
    const t = w;
    await enrolPrepaid(t, 'carol', '1000', ['--locale', 'en-US']);
    const r = await t.api('POST', '/v1/payments', { idem: 'call', body: order('carol') });
    expect(await finalOf(t, r.body.id)).toMatchObject({ status: 'succeeded' });
    const m = await eventually(async () => {
      const s = await scrape(t);
      expect(s.get('callpay_calls_total')).toBe(1);
      return s;
    }, 10_000);
    expect(m.get('callpay_calls_total', { outcome: 'answered', sip_status: '200' })).toBe(1);
    expect(m.get('callpay_call_setup_seconds_count', { outcome: 'answered' })).toBe(1);
    expect(m.get('callpay_call_duration_seconds_count')).toBe(1);
    expect(m.get('callpay_pin_entry_seconds_count')).toBe(1);
    expect(m.get('callpay_pin_verifications_total', { result: 'wrong' })).toBe(1);
    expect(m.get('callpay_pin_verifications_total', { result: 'right' })).toBe(1);
    expect(m.get('callpay_calls_live')).toBe(0);
    expect(m.get('callpay_media_packets_sent')).toBeGreaterThan(50);
    expect(m.text).toMatch(/callpay_media_send_interval_ms\{quantile="0.99"\} \d/);
  });
});
