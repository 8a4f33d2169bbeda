import { afterEach, describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, finalOf, startCallingWorld, startWorld, type TestWorld } from './helpers/daemon.js';
import { parseSipTrace, startSipp, type Sipp } from './helpers/sipp.js';
import type { AuthorizationRequest, CallOutcome } from '../src/payments/ports.js';

/**
 * Toll-fraud caps count dial attempts, retries included, per consumer, per number dialled and per
 * merchant; past a cap no INVITE leaves callpay (issue 10, defect 1: a busy phone used to get every
 * retry of every payment).
 */
describe('call caps count every dial', { timeout: 90_000 }, () => {
  let w: TestWorld | undefined;
  let sipp: Sipp | undefined;
  afterEach(async () => {
    await w?.close();
    await sipp?.stop();
    w = undefined;
    sipp = undefined;
  });

  let seq = 0;
  const order = (login: string) => ({ amount: 15000, currency: 'TWD', reference: `cap-${++seq}`, description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: login });
  const pay = (t: TestWorld, login: string, key = t.apiKey) => t.api('POST', '/v1/payments', { key, idem: `cap-${seq}-${Math.random()}`, body: order(login) });
  const dials = (t: TestWorld) => t.db.prepare('SELECT count(*) FROM dials').pluck().get() as number;

  it('a busy phone with retries and two merchants gets at most the cap of INVITEs', async () => {
    sipp = await startSipp({ scenario: 'busy', calls: 12, timeoutMs: 60_000 });
    w = await startCallingWorld(sipp.port, {
      CALLPAY_IVR_RETRY_ATTEMPTS: '2',
      CALLPAY_IVR_RETRY_DELAY_MS: '0',
      CALLPAY_IVR_MAX_CALLS_PER_CONSUMER_PER_HOUR: '4',
    });
    await enrolPrepaid(w, 'alice', '1000');
    // Four payments at once from two merchants: without the cap, 4 × 3 attempts = 12 INVITEs.
    const created = await Promise.all([pay(w, 'alice'), pay(w, 'alice', w.otherApiKey), pay(w, 'alice'), pay(w, 'alice', w.otherApiKey)]);
    const results = await Promise.all(created.map((c, i) => (c.body.status === 'calling' ? finalOf(w!, c.body.id, i % 2 ? w!.otherApiKey : w!.apiKey) : c.body)));
    const invites = parseSipTrace(sipp.messages()).filter((m) => m.direction === 'received' && m.firstLine.startsWith('INVITE'));
    expect(invites).toHaveLength(4);
    expect(dials(w)).toBe(4);
    expect(results.filter((r) => r.failure_code === 'call_limit_exceeded').length).toBeGreaterThanOrEqual(1);
    expect(results.every((r) => r.failure_code === 'busy' || r.failure_code === 'call_limit_exceeded')).toBe(true);
  });
});

describe('call caps with a scripted dialer', () => {
  let w: TestWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });
  let seq = 0;
  const order = (login: string) => ({ amount: 15000, currency: 'TWD', reference: `s-${++seq}`, description: 'd', return_url: 'https://shop.example/', login_account: login });
  const pay = (t: TestWorld, login: string) => t.api('POST', '/v1/payments', { idem: `s-${seq}-${Math.random()}`, body: order(login) });
  const statusOf = async (t: TestWorld, id: string) => ((await t.api('GET', `/v1/payments/${id}`)).body as { status: string; failure_code: string | null });
  /** A phone that stays busy: retries until the dialer refuses, as the IVR authorizer does. */
  const busyWithRetries = (attempts: number) => async (req: AuthorizationRequest): Promise<CallOutcome> => {
    for (let a = 2; a <= attempts; a++) {
      const refused = await req.mayDial(a);
      if (refused) return { kind: 'call_limit', reason: refused };
    }
    return { kind: 'busy' };
  };

  it('refuses a retry past the cap in the middle of a payment, then the next payment before any dial', async () => {
    w = await startWorld({ CALLPAY_IVR_MAX_CALLS_PER_CONSUMER_PER_HOUR: '4' });
    await enrolPrepaid(w, 'alice', '1000');
    w.engine.script.push(busyWithRetries(3), busyWithRetries(3));
    const first = await pay(w, 'alice');
    await eventually(async () => expect(await statusOf(w!, first.body.id)).toMatchObject({ status: 'failed', failure_code: 'busy' }));
    const second = await pay(w, 'alice');
    await eventually(async () => expect(await statusOf(w!, second.body.id)).toMatchObject({ status: 'declined', failure_code: 'call_limit_exceeded' }));
    expect(w.db.prepare('SELECT count(*) FROM dials').pluck().get()).toBe(4);
    const third = await pay(w, 'alice');
    expect(third.body).toMatchObject({ status: 'declined', failure_code: 'call_limit_exceeded' });
    expect(w.engine.requests).toHaveLength(2);
    expect(w.db.prepare('SELECT kind FROM transfers WHERE payment_id = ? ORDER BY rowid').pluck().all(third.body.id), 'no hold left behind').toEqual(['hold', 'void']);
  });

  it('caps by the number dialled, across consumers who share a landline', async () => {
    w = await startWorld({ CALLPAY_IVR_MAX_CALLS_PER_NUMBER_PER_HOUR: '2' });
    // enrolPrepaid gives everyone the same phone number: a household sharing one line.
    await enrolPrepaid(w, 'alice', '1000');
    await enrolPrepaid(w, 'bob', '1000');
    w.engine.script.push({ kind: 'declined' }, { kind: 'declined' });
    for (const login of ['alice', 'bob']) {
      const r = await pay(w, login);
      await eventually(async () => expect((await statusOf(w!, r.body.id)).status).toBe('declined'));
    }
    const third = await pay(w, 'alice');
    expect(third.body).toMatchObject({ status: 'declined', failure_code: 'call_limit_exceeded' });
    expect(w.engine.requests).toHaveLength(2);
    // The number is counted by its blind index: the dials table holds no phone number.
    const row = w.db.prepare('SELECT * FROM dials LIMIT 1').get() as Record<string, unknown>;
    expect(JSON.stringify(row)).not.toContain('912345678');
    w.clock.advance(3_601_000);
    w.engine.script.push({ kind: 'approved' });
    expect((await pay(w, 'bob')).body.status).toBe('calling');
  });
});
