import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, startWorld, type TestWorld } from './helpers/daemon.js';
import { usePgWorlds, WORLD_STORES } from './helpers/pg-world.js';
import type { AuthorizationRequest } from '../src/payments/ports.js';

const order = (extra: Record<string, unknown> = {}) => ({
  amount: 15000, currency: 'TWD', reference: 'order-1', description: 'Oyster omelette', return_url: 'https://shop.example/done', ...extra,
});
let seq = 0;
const idem = () => `key-${++seq}-${Math.random()}`;
/** A payment's transfers in the order they were made: by time, then the hold before what resolves it. */
const transferKinds = async (w: TestWorld, paymentId: string) =>
  (await w.query<{ kind: string }>('SELECT kind FROM transfers WHERE payment_id = ? ORDER BY created_at, kind', [paymentId])).map((r) => r.kind);

usePgWorlds();

describe.each(WORLD_STORES)('merchant API (%s)', (store) => {
  let w: TestWorld;
  let aliceAccount: string;
  const count = async () => {
    const [row] = await w.query<{ n: number }>('SELECT count(*) AS n FROM payments');
    expect(typeof row?.n).toBe('number');
    return row!.n;
  };
  const available = (acct: string) => w.ctx.store.ledger.available(acct);

  beforeAll(async () => {
    w = await startWorld({ CALLPAY_RATE_LIMIT_BURST: '1000' }, { store });
    aliceAccount = await enrolPrepaid(w, 'alice', '1000');
  });
  afterAll(async () => w.close());

  it('answers health and readiness', async () => {
    expect((await w.api('GET', '/healthz', { key: null })).status).toBe(200);
    expect((await w.api('GET', '/readyz', { key: null })).body).toEqual({ status: 'ready' });
  });

  it('authenticates merchants by API key', async () => {
    expect((await w.api('GET', '/v1/payments', { key: null })).body.error.code).toBe('unauthorized');
    expect((await w.api('GET', '/v1/payments', { key: 'cpk_notakeyatall1234' })).status).toBe(401);
  });

  it('creates a payment waiting for the consumer, with checkout URL and poll hints', async () => {
    const r = await w.api('POST', '/v1/payments', { body: order({ metadata: { table: '7' } }), idem: idem() });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ status: 'requires_consumer', amount: 15000, currency: 'TWD', reference: 'order-1', metadata: { table: '7' }, live: false, interval: 2, auth_req_id: r.body.id });
    expect(r.body.checkout_url).toMatch(new RegExp(`^http://127.0.0.1:8080/checkout/${r.body.id}\\?token=[A-Za-z0-9_-]{43}$`));
    expect(r.body.expires_in).toBeGreaterThan(590);
    const got = await w.api('GET', `/v1/payments/${r.body.id}`);
    expect(got.body.id).toBe(r.body.id);
  });

  it('replays the same Idempotency-Key and body, refuses it with another body, requires it', async () => {
    const key = idem();
    const first = await w.api('POST', '/v1/payments', { body: order({ reference: 'idem' }), idem: key });
    const before = await count();
    const again = await w.api('POST', '/v1/payments', { body: order({ reference: 'idem' }), idem: key });
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await count()).toBe(before);
    const conflict = await w.api('POST', '/v1/payments', { body: order({ reference: 'other' }), idem: key });
    expect([conflict.status, conflict.body.error.code]).toEqual([409, 'idempotency_conflict']);
    const missing = await w.api('POST', '/v1/payments', { body: order() });
    expect([missing.status, missing.body.error.code, missing.body.error.field]).toEqual([400, 'idempotency_key_missing', 'Idempotency-Key']);
    // The same key is the merchant's own: another merchant may use it independently.
    expect((await w.api('POST', '/v1/payments', { body: order(), idem: key, key: w.otherApiKey })).status).toBe(201);
  });

  it.each([
    ['amount', { amount: 0 }],
    ['amount', { amount: -5 }],
    ['amount', { amount: 12.5 }],
    ['amount', { amount: '100' }],
    ['amount', { amount: 1e13 }],
    ['currency', { currency: 'XYZ' }],
    ['currency', { currency: 7 }],
    ['reference', { reference: '' }],
    ['reference', { reference: 'x'.repeat(101) }],
    ['description', { description: 'line\nbreak' }],
    ['return_url', { return_url: 'javascript:alert(1)' }],
    ['return_url', { return_url: 'https://shop.example/\r\nSet-Cookie: a=b' }],
    ['return_url', { return_url: 'https://user:pw@shop.example/' }],
    ['login_account', { login_account: 'has spaces' }],
    ['metadata.bad key', { metadata: { 'bad key': 'x' } }],
    ['metadata', { metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v'])) }],
    ['surprise', { surprise: true }],
  ])('refuses a bad %s, storing nothing', async (field, extra) => {
    const before = await count();
    const r = await w.api('POST', '/v1/payments', { body: order(extra), idem: idem() });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'invalid_field', field });
    expect(await count()).toBe(before);
  });

  it('refuses malformed JSON (400), other content types (415) and bodies over 16 KiB (413)', async () => {
    const before = await count();
    const bad = await w.api('POST', '/v1/payments', { raw: '{"amount": 1', headers: { 'content-type': 'application/json' }, idem: idem() });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'malformed_json']);
    const form = await w.api('POST', '/v1/payments', { raw: 'amount=1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, idem: idem() });
    expect([form.status, form.body.error.code]).toEqual([415, 'unsupported_media_type']);
    const big = await w.api('POST', '/v1/payments', { body: order({ description: 'x'.repeat(17_000) }), idem: idem() });
    expect([big.status, big.body.error.code]).toEqual([413, 'payload_too_large']);
    expect(await count()).toBe(before);
  });

  it('hides other merchants\u2019 payments behind 404', async () => {
    const mine = await w.api('POST', '/v1/payments', { body: order(), idem: idem() });
    for (const [method, path] of [['GET', `/v1/payments/${mine.body.id}`], ['POST', `/v1/payments/${mine.body.id}/cancel`]] as const) {
      const r = await w.api(method, path, { key: w.otherApiKey });
      expect([r.status, r.body.error.code]).toEqual([404, 'not_found']);
    }
    const list = await w.api('GET', '/v1/payments?limit=100', { key: w.otherApiKey });
    expect(list.body.data.map((p: { id: string }) => p.id)).not.toContain(mine.body.id);
  });

  it('charges after an approved call: hold, then post; event and webhook queued', async () => {
    w.engine.script.push({ kind: 'approved' });
    const start = await available(aliceAccount);
    const r = await w.api('POST', '/v1/payments', { body: order({ login_account: 'Alice', reference: 'call-ok' }), idem: idem() });
    expect(r.body).toMatchObject({ status: 'calling', authentication: { password: false, call: true } });
    const done = await eventually(async () => {
      const p = await w.api('GET', `/v1/payments/${r.body.id}`);
      expect(p.body.status).toBe('succeeded');
      return p.body;
    });
    expect(done.expires_in).toBe(0);
    expect(await available(aliceAccount)).toBe(start - 15000);
    const call = w.engine.requests.at(-1);
    expect(call).toMatchObject({ phone: '+886912345678', merchantSpokenName: 'Night Market Stall 12', amount: 15000, currency: 'TWD' });
    expect(await call?.verifyPin('482916')).toBe('ok');
    expect(await call?.verifyPin('482917')).toBe('wrong');
    const events = await w.api('GET', `/v1/events?payment_id=${r.body.id}`);
    expect(events.body.data.map((e: { type: string }) => e.type)).toEqual(['payment.succeeded']);
    expect(await transferKinds(w, r.body.id)).toEqual(['hold', 'post']);
    const transitions = await w.api('GET', `/v1/payments/${r.body.id}/transitions`);
    expect(transitions.body.data.map((t: { to: string }) => t.to)).toEqual(['requires_consumer', 'calling', 'calling', 'succeeded']);
  });

  it.each([
    [{ kind: 'declined' }, 'declined', 'consumer_declined'],
    [{ kind: 'wrong_pin' }, 'declined', 'wrong_pin'],
    [{ kind: 'no_input' }, 'declined', 'no_input'],
    [{ kind: 'busy' }, 'failed', 'busy'],
    [{ kind: 'no_answer' }, 'failed', 'no_answer'],
    [{ kind: 'hung_up' }, 'failed', 'hung_up'],
    [{ kind: 'failed', reason: 'SDP without a usable codec' }, 'failed', 'call_failed'],
  ] as const)('ends %o as %s (%s) and releases the hold', async (outcome, status, code) => {
    w.engine.script.push(outcome);
    const start = await available(aliceAccount);
    const r = await w.api('POST', '/v1/payments', { body: order({ login_account: 'alice' }), idem: idem() });
    const done = await eventually(async () => {
      const p = await w.api('GET', `/v1/payments/${r.body.id}`);
      expect(p.body.status).toBe(status);
      return p.body;
    });
    expect(done.failure_code).toBe(code);
    expect(await available(aliceAccount)).toBe(start);
    expect(await transferKinds(w, r.body.id)).toEqual(['hold', 'void']);
    const events = await w.api('GET', `/v1/events?payment_id=${r.body.id}`);
    expect(events.body.data.map((e: { type: string }) => e.type)).toEqual([`payment.${status}`]);
  });

  it('refuses before any call when the prepaid balance or the postpaid credit cannot cover the amount', async () => {
    await enrolPrepaid(w, 'poor', '10');
    const calls = w.engine.requests.length;
    const r = await w.api('POST', '/v1/payments', { body: order({ login_account: 'poor' }), idem: idem() });
    expect(r.body).toMatchObject({ status: 'declined', failure_code: 'insufficient_funds' });
    await w.cli(['consumer', 'add', '--login', 'postie', '--phone', '+88622345678', '--national-id', 'B123456789', '--address', 'No. 1, Lane 2', '--pin-stdin'], '1234\n');
    await w.cli(['account', 'add', 'postie', '--kind', 'landline', '--number', '0222345678', '--plan', 'postpaid', '--credit-limit', '100']);
    const p = await w.api('POST', '/v1/payments', { body: order({ login_account: 'postie' }), idem: idem() });
    expect(p.body).toMatchObject({ status: 'declined', failure_code: 'credit_limit_exceeded' });
    expect(w.engine.requests.length).toBe(calls);
    expect(await w.query('SELECT count(*) AS n FROM transfers WHERE payment_id IN (?, ?)', [r.body.id, p.body.id])).toEqual([{ n: 0 }]);
  });

  it('locks the consumer after five wrong PINs across calls; an operator unlocks', async () => {
    await enrolPrepaid(w, 'forgetful', '1000');
    const wrongTimes = (n: number) => async (req: AuthorizationRequest) => {
      let last = 'wrong';
      for (let i = 0; i < n && last === 'wrong'; i++) last = await req.verifyPin('000000');
      return { kind: last === 'locked' ? 'locked' : 'wrong_pin' } as const;
    };
    w.engine.script.push(wrongTimes(3));
    const first = await w.api('POST', '/v1/payments', { body: order({ login_account: 'forgetful' }), idem: idem() });
    await eventually(async () => expect((await w.api('GET', `/v1/payments/${first.body.id}`)).body.failure_code).toBe('wrong_pin'));
    w.engine.script.push(wrongTimes(3));
    const second = await w.api('POST', '/v1/payments', { body: order({ login_account: 'forgetful' }), idem: idem() });
    await eventually(async () => expect((await w.api('GET', `/v1/payments/${second.body.id}`)).body.failure_code).toBe('consumer_locked'));
    expect(JSON.parse((await w.cli(['consumer', 'show', 'forgetful', '--json'])).stdout).status).toBe('locked');
    const calls = w.engine.requests.length;
    expect((await w.api('POST', '/v1/payments', { body: order({ login_account: 'forgetful' }), idem: idem() })).body.failure_code).toBe('consumer_locked');
    expect(w.engine.requests.length).toBe(calls);
    await w.cli(['consumer', 'unlock', 'forgetful']);
    w.engine.script.push(async (req) => ((await req.verifyPin('482916')) === 'ok' ? { kind: 'approved' } : { kind: 'wrong_pin' }));
    const fourth = await w.api('POST', '/v1/payments', { body: order({ login_account: 'forgetful' }), idem: idem() });
    await eventually(async () => expect((await w.api('GET', `/v1/payments/${fourth.body.id}`)).body.status).toBe('succeeded'));
  });

  it('never calls a locked consumer', async () => {
    await enrolPrepaid(w, 'locky', '1000');
    await w.cli(['consumer', 'lock', 'locky']);
    const calls = w.engine.requests.length;
    const r = await w.api('POST', '/v1/payments', { body: order({ login_account: 'locky' }), idem: idem() });
    expect(r.body).toMatchObject({ status: 'declined', failure_code: 'consumer_locked' });
    expect(w.engine.requests.length).toBe(calls);
  });

  it('refuses an unknown login account (422) and an amount over the carrier maximum (422)', async () => {
    const unknown = await w.api('POST', '/v1/payments', { body: order({ login_account: 'nobody' }), idem: idem() });
    expect([unknown.status, unknown.body.error.code, unknown.body.error.field]).toEqual([422, 'unknown_consumer', 'login_account']);
    const big = await w.api('POST', '/v1/payments', { body: order({ amount: 5_000_001 }), idem: idem() });
    expect([big.status, big.body.error.code]).toEqual([422, 'amount_too_large']);
  });

  it('skips the call for small amounts within the frictionless allowance, then calls again', async () => {
    const acct = await enrolPrepaid(w, 'flexi', '1000');
    const policy = await w.cli(['consumer', 'policy', 'flexi', '--call-above', '200', '--frictionless-count', '2', '--frictionless-amount', '500']);
    expect(policy.code).toBe(0);
    expect((await w.cli(['consumer', 'policy', 'flexi', '--call-above', '5000'])).stderr).toContain('call-above');
    const calls = w.engine.requests.length;
    const small = async () => (await w.api('POST', '/v1/payments', { body: order({ login_account: 'flexi', amount: 10000 }), idem: idem() })).body;
    const first = await small();
    expect(first).toMatchObject({ status: 'succeeded', authentication: { call: false } });
    expect((await small()).status).toBe('succeeded');
    expect(w.engine.requests.length).toBe(calls);
    w.engine.script.push({ kind: 'approved' });
    const third = await small();
    expect(third).toMatchObject({ status: 'calling', authentication: { call: true } });
    await eventually(async () => expect((await w.api('GET', `/v1/payments/${third.id}`)).body.status).toBe('succeeded'));
    expect((await small()).authentication.call).toBe(false);
    expect(await available(acct)).toBe(100000 - 4 * 10000);
    const stored = await w.daemon.store.payments.find(first.id);
    expect(stored?.decision).toMatchObject({ allowed: true, steps: [] });
  });

  it('waits for the password when policy needs it, and can be canceled then', async () => {
    await w.cli(['consumer', 'add', '--login', 'pwuser', '--phone', '+886912345670', '--national-id', 'C123456789', '--address', 'No. 3 Road', '--pin-stdin', '--password-stdin'], '1234\nnight market 42\n');
    await w.cli(['account', 'add', 'pwuser', '--kind', 'broadband', '--number', 'HN00000001', '--plan', 'postpaid', '--credit-limit', '500']);
    const r = await w.api('POST', '/v1/payments', { body: order({ login_account: 'pwuser', amount: 100 }), idem: idem() });
    expect(r.body).toMatchObject({ status: 'requires_password', authentication: { password: true, call: true } });
    const c = await w.api('POST', `/v1/payments/${r.body.id}/cancel`);
    expect(c.body.status).toBe('canceled');
    expect((await w.api('POST', `/v1/payments/${r.body.id}/cancel`)).body.status).toBe('canceled');
    const events = await w.api('GET', `/v1/events?payment_id=${r.body.id}`);
    expect(events.body.data.map((e: { type: string }) => e.type)).toEqual(['payment.canceled']);
  });

  it('expires open payments and releases their holds', async () => {
    const r = await w.api('POST', '/v1/payments', { body: order(), idem: idem() });
    w.clock.advance(601_000);
    await w.daemon.sweeper.sweep();
    const p = await w.api('GET', `/v1/payments/${r.body.id}`);
    expect(p.body.status).toBe('expired');
    expect((await w.api('POST', `/v1/payments/${r.body.id}/cancel`)).status).toBe(409);
    const events = await w.api('GET', `/v1/events?payment_id=${r.body.id}`);
    expect(events.body.data.map((e: { type: string }) => e.type)).toEqual(['payment.expired']);
  });

  it('expires a call that outlives its payment: hangs up and releases the hold', async () => {
    let hungUp = false;
    let ringing = () => {};
    const inCall = new Promise<void>((resolve) => (ringing = resolve));
    w.engine.script.push((req) => new Promise((resolve) => {
      req.signal.addEventListener('abort', () => {
        hungUp = true;
        resolve({ kind: 'hung_up' });
      });
      ringing();
    }));
    const start = await available(aliceAccount);
    const r = await w.api('POST', '/v1/payments', { body: order({ login_account: 'alice' }), idem: idem() });
    expect(r.body.status).toBe('calling');
    // The call runs after the reply: on PostgreSQL it reaches the phone a few round trips later, and
    // expiring it before then would abort a call that has not begun.
    await inCall;
    expect(await available(aliceAccount)).toBe(start - 15000);
    w.clock.advance(601_000);
    await w.daemon.sweeper.sweep();
    expect(hungUp).toBe(false); // a call gets a grace period past expiry
    w.clock.advance(300_000);
    await w.daemon.sweeper.sweep();
    await eventually(async () => expect((await w.api('GET', `/v1/payments/${r.body.id}`)).body.status).toBe('expired'));
    expect(hungUp).toBe(true);
    expect(await available(aliceAccount)).toBe(start);
    expect(await transferKinds(w, r.body.id)).toEqual(['hold', 'void']);
  });

  it('refunds partially then fully, never more than charged', async () => {
    w.engine.script.push({ kind: 'approved' });
    const r = await w.api('POST', '/v1/payments', { body: order({ login_account: 'alice', amount: 20000 }), idem: idem() });
    await eventually(async () => expect((await w.api('GET', `/v1/payments/${r.body.id}`)).body.status).toBe('succeeded'));
    const before = await available(aliceAccount);
    const part = await w.api('POST', `/v1/payments/${r.body.id}/refunds`, { body: { amount: 5000, reason: 'cold' }, idem: idem() });
    expect(part.status).toBe(201);
    expect(part.body.payment).toMatchObject({ status: 'partially_refunded', amount_refunded: 5000 });
    const tooMuch = await w.api('POST', `/v1/payments/${r.body.id}/refunds`, { body: { amount: 15001 }, idem: idem() });
    expect([tooMuch.status, tooMuch.body.error.code]).toEqual([422, 'refund_exceeds_charge']);
    const rest = await w.api('POST', `/v1/payments/${r.body.id}/refunds`, { body: {}, idem: idem() });
    expect(rest.body.payment).toMatchObject({ status: 'refunded', amount_refunded: 20000 });
    expect(await available(aliceAccount)).toBe(before + 20000);
    const again = await w.api('POST', `/v1/payments/${r.body.id}/refunds`, { body: { amount: 1 }, idem: idem() });
    expect(again.status).toBe(409);
    const open = await w.api('POST', '/v1/payments', { body: order(), idem: idem() });
    expect((await w.api('POST', `/v1/payments/${open.body.id}/refunds`, { body: {}, idem: idem() })).status).toBe(409);
    const events = await w.api('GET', `/v1/events?payment_id=${r.body.id}&type=refund.succeeded`);
    expect(events.body.data).toHaveLength(2);
  });

  it('lists with filters and cursor pagination; events are replayable from any point', async () => {
    for (let i = 0; i < 3; i++) await w.api('POST', '/v1/payments', { body: order({ reference: 'page-me' }), idem: idem() });
    const page1 = await w.api('GET', '/v1/payments?reference=page-me&limit=2');
    expect(page1.body.data).toHaveLength(2);
    expect(page1.body.has_more).toBe(true);
    const page2 = await w.api('GET', `/v1/payments?reference=page-me&limit=2&starting_after=${page1.body.next_cursor}`);
    expect(page2.body.data).toHaveLength(1);
    expect(page2.body.has_more).toBe(false);
    expect(new Set([...page1.body.data, ...page2.body.data].map((p: { id: string }) => p.id)).size).toBe(3);
    expect((await w.api('GET', '/v1/payments?status=nope')).body.error.field).toBe('status');
    const all = await w.api('GET', '/v1/events?limit=100');
    const fromSecond = await w.api('GET', `/v1/events?after=${all.body.data[0].seq}&limit=100`);
    expect(fromSecond.body.data).toEqual(all.body.data.slice(1));
  });

  it('refuses a disabled merchant with 403', async () => {
    await w.cli(['merchant', 'disable', w.merchantId]);
    try {
      const r = await w.api('GET', '/v1/payments');
      expect([r.status, r.body.error.code]).toEqual([403, 'merchant_disabled']);
    } finally {
      await w.cli(['merchant', 'enable', w.merchantId]);
    }
  });
});

describe.each(WORLD_STORES)('toll-fraud caps (%s)', (store) => {
  it('declines payments past the calls per consumer per hour, before any call', async () => {
    const w = await startWorld({ CALLPAY_IVR_MAX_CALLS_PER_CONSUMER_PER_HOUR: '2' }, { store });
    try {
      await enrolPrepaid(w, 'alice', '1000');
      for (let i = 0; i < 2; i++) {
        w.engine.script.push({ kind: 'declined' });
        const r = await w.api('POST', '/v1/payments', { body: order({ login_account: 'alice' }), idem: idem() });
        expect(r.body.status).toBe('calling');
        await eventually(async () => expect((await w.api('GET', `/v1/payments/${r.body.id}`)).body.status).toBe('declined'));
      }
      const third = await w.api('POST', '/v1/payments', { body: order({ login_account: 'alice' }), idem: idem() });
      expect(third.body).toMatchObject({ status: 'declined', failure_code: 'call_limit_exceeded' });
      expect(w.engine.requests).toHaveLength(2);
      w.clock.advance(3_601_000);
      w.engine.script.push({ kind: 'approved' });
      const later = await w.api('POST', '/v1/payments', { body: order({ login_account: 'alice' }), idem: idem() });
      expect(later.body.status).toBe('calling');
    } finally {
      await w.close();
    }
  });
});

describe.each(WORLD_STORES)('rate limit (%s)', (store) => {
  it('answers 429 with Retry-After past the per-merchant limit', async () => {
    const w = await startWorld({ CALLPAY_RATE_LIMIT_BURST: '3', CALLPAY_RATE_LIMIT_PER_SECOND: '1' }, { store });
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 5; i++) {
        const r = await w.api('GET', '/v1/payments');
        statuses.push(r.status);
        if (r.status === 429) retryAfter = r.headers.get('retry-after');
      }
      expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
      expect(statuses).toContain(429);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
      expect((await w.api('GET', '/v1/payments', { key: w.otherApiKey })).status).toBe(200);
    } finally {
      await w.close();
    }
  });
});
