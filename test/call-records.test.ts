import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolPrepaid, finalOf, startWorld, type TestWorld } from './helpers/daemon.js';
import type { AuthorizationRequest, CallOutcome } from '../src/payments/ports.js';
import type { CallRecord } from '../src/domain/call.js';
import type { CliResult } from './helpers/cli.js';

const PIN = '482916';
const order = (extra: Record<string, unknown> = {}) => ({
  amount: 15000, currency: 'TWD', reference: 'calls', description: 'Oyster omelette', return_url: 'https://shop.example/done', ...extra,
});
let seq = 0;
const idem = () => `calls-${++seq}-${Math.random()}`;

/** Like the IVR: a busy first dial (a hostile reason phrase), a retry answered with a PIN keyed and verified. */
function busyThenApproved(req: AuthorizationRequest): Promise<CallOutcome> {
  const t0 = Date.now();
  const at = (ms: number) => new Date(t0 + ms).toISOString();
  const busy: CallRecord = { callId: 'call-one@127.0.0.1', startedAt: at(0), answeredAt: null, endedAt: at(500), outcome: 'busy', sipStatus: 486, reason: '486 Busy\u001b]0;owned\u0007 Here', digitCount: 0 };
  req.onAttempt(1, busy);
  return (async () => {
    expect(await req.mayDial(2)).toBeNull();
    req.onAttempt(2, { callId: 'call-two@127.0.0.1', startedAt: at(1000), answeredAt: null, endedAt: null, outcome: 'answered', sipStatus: null, reason: null, digitCount: 0 });
    expect(await req.verifyPin(PIN)).toBe('ok');
    req.onAttempt(2, { callId: 'call-two@127.0.0.1', startedAt: at(1000), answeredAt: at(3000), endedAt: at(9000), outcome: 'answered', sipStatus: 200, reason: 'ended by callpay', digitCount: PIN.length + 1 });
    return { kind: 'approved' };
  })();
}

function ok<T>(r: CliResult): T {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
}

describe('call records: GET /v1/payments/:id/calls and callpay call list|show', () => {
  let w: TestWorld;
  let called = '';
  let uncalled = '';

  beforeAll(async () => {
    w = await startWorld({ CALLPAY_RATE_LIMIT_BURST: '1000' });
    await enrolPrepaid(w, 'alice', '1000');
    w.engine.script.push(busyThenApproved);
    const r = await w.api('POST', '/v1/payments', { body: order({ login_account: 'alice' }), idem: idem() });
    expect(r.status).toBe(201);
    called = r.body.id;
    expect((await finalOf(w, called)).status).toBe('succeeded');
    uncalled = (await w.api('POST', '/v1/payments', { body: order({ reference: 'no-call' }), idem: idem() })).body.id;
  });
  afterAll(async () => w.close());

  it('lists the attempts in order with times, SIP status, outcome, digit count and the masked number', async () => {
    const r = await w.api('GET', `/v1/payments/${called}/calls`);
    expect(r.status).toBe(200);
    expect(r.body.object).toBe('list');
    expect(r.body.has_more).toBe(false);
    expect(r.body.data).toHaveLength(2);
    const [first, second] = r.body.data;
    expect(first).toEqual({
      object: 'call_attempt', payment_id: called, attempt: 1, call_id: 'call-one@127.0.0.1', started_at: expect.any(String),
      answered_at: null, ended_at: expect.any(String), sip_status: 486, outcome: 'busy', reason: '486 Busy ]0;owned  Here', digit_count: 0, number: '+886 9** *** 678',
    });
    // The second attempt was written twice (as it started, as it ended): the last write stands.
    expect(second).toMatchObject({ attempt: 2, outcome: 'answered', sip_status: 200, digit_count: 7, number: '+886 9** *** 678' });
    expect(Date.parse(second.answered_at)).toBeLessThan(Date.parse(second.ended_at));
    // Never the digits, never the number in full.
    const text = JSON.stringify(r.body);
    expect(text).not.toContain(PIN);
    expect(text).not.toContain('912345678');
    expect(Object.keys(second)).not.toContain('digits');
  });

  it('an uncalled payment has an empty list', async () => {
    const r = await w.api('GET', `/v1/payments/${uncalled}/calls`);
    expect([r.status, r.body.data]).toEqual([200, []]);
  });

  it('needs the API key, hides other merchants\u2019 payments (404) and refuses query parameters', async () => {
    const anon = await w.api('GET', `/v1/payments/${called}/calls`, { key: null });
    expect([anon.status, anon.body.error.code]).toEqual([401, 'unauthorized']);
    const other = await w.api('GET', `/v1/payments/${called}/calls`, { key: w.otherApiKey });
    expect([other.status, other.body.error.code]).toEqual([404, 'not_found']);
    const missing = await w.api('GET', '/v1/payments/pay_00000000000000000000000000/calls');
    expect([missing.status, missing.body.error.code]).toEqual([404, 'not_found']);
    const query = await w.api('GET', `/v1/payments/${called}/calls?digits=1`);
    expect([query.status, query.body.error.code, query.body.error.field]).toEqual([400, 'invalid_field', 'digits']);
  });

  it('call list: newest first, filtered by payment and time, as JSON and as a table', async () => {
    const all = ok<Array<{ payment_id: string; attempt: number; number: string }>>(await w.cli(['call', 'list', '--json']));
    expect(all.map((a) => [a.payment_id, a.attempt])).toEqual([[called, 2], [called, 1]]);
    const mine = ok<Array<{ attempt: number }>>(await w.cli(['call', 'list', '--payment', called, '--json']));
    expect(mine.map((a) => a.attempt)).toEqual([1, 2]);
    expect(ok<unknown[]>(await w.cli(['call', 'list', '--limit', '1', '--json']))).toHaveLength(1);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect(ok<unknown[]>(await w.cli(['call', 'list', '--since', future, '--json']))).toEqual([]);
    expect(ok<unknown[]>(await w.cli(['call', 'list', '--since', '2020-01-01T08:00:00+08:00', '--json']))).toHaveLength(2);

    const human = await w.cli(['call', 'list']);
    expect(human.code).toBe(0);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^PAYMENT\s+ATTEMPT\s+STARTED\s+ANSWERED\s+ENDED\s+SIP\s+OUTCOME\s+DIGITS\s+NUMBER\s+REASON$/);
    expect(lines).toHaveLength(3);
    expect(lines[2]).toContain('486');
    expect(lines[2]).toContain('+886 9** *** 678');
    expect(human.stdout).not.toContain(PIN);
    expect(human.stdout).not.toContain('912345678');
    // A peer's reason phrase cannot drive the operator's terminal.
    expect(human.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    expect((await w.cli(['call', 'list', '--since', future])).stdout.trim()).toBe('no call attempts');
  });

  it('call show: the payment and its attempts', async () => {
    const shown = ok<{ payment: { id: string; status: string }; calls: Array<{ attempt: number; digit_count: number }> }>(await w.cli(['call', 'show', called, '--json']));
    expect(shown.payment).toMatchObject({ id: called, status: 'succeeded' });
    expect(shown.calls.map((c) => [c.attempt, c.digit_count])).toEqual([[1, 0], [2, 7]]);
    const human = await w.cli(['call', 'show', called]);
    expect(human.stdout).toMatch(new RegExp(`^payment\\s+${called}$`, 'm'));
    expect(human.stdout).toMatch(/^calls\s+2$/m);
    expect(human.stdout).toMatch(/^ATTEMPT\s+STARTED/m);
    const none = await w.cli(['call', 'show', uncalled, '--json']);
    expect(ok<{ calls: unknown[] }>(none).calls).toEqual([]);
  });

  it.each([
    [['call', 'list', '--limit', '0'], 'limit', 'invalid_field'],
    [['call', 'list', '--limit', 'ten'], 'limit', 'invalid_field'],
    [['call', 'list', '--since', '2025-03-01'], 'since', 'invalid_field'],
    [['call', 'list', '--since', 'yesterday'], 'since', 'invalid_field'],
    [['call', 'list', '--payment', 'nope'], 'payment', 'invalid_field'],
    [['call', 'list', '--payment', 'pay_00000000000000000000000000'], 'payment', 'not_found'],
    [['call', 'show', 'pay_\u001b[2J'], 'payment_id', 'invalid_field'],
    [['call', 'show', 'pay_00000000000000000000000000'], 'payment', 'not_found'],
  ])('refuses %j naming %s [%s]', async (args, field, code) => {
    const r = await w.cli(args);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(field);
    expect(lines[0]).toContain(`[${code}]`);
  });

  it('once the consumer has a new number, old attempts no longer show a number (never the new one)', async () => {
    const update = await w.cli(['consumer', 'update', 'alice', '--phone', '+886922333444']);
    expect(update.code).toBe(0);
    const r = await w.api('GET', `/v1/payments/${called}/calls`);
    expect(r.body.data.map((a: { number: string | null }) => a.number)).toEqual([null, null]);
    const human = await w.cli(['call', 'show', called]);
    expect(human.stdout).not.toContain('444');
  });
});
