import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, finalOf, startWorld, type TestWorld } from './helpers/daemon.js';
import { startEslPeer, type EslPeer, type NumberPlan } from './helpers/esl-peer/peer.js';
import { tempDir } from './helpers/cli.js';

/**
 * The end-to-end payment tests of e2e-call.test.ts with telephony.engine = "freeswitch": the daemon
 * drives the event-socket peer (a separate process over TCP), which plays the consumer's phone.
 */
const PHONE = '886912345678'; // enrolPrepaid's number, without "+"
const keyed = (digits: string): NumberPlan => ({ outcome: 'answer', clipMs: 100, keys: [{ after: 'answer', ms: 1500, digits, gapMs: 250 }] });

describe('end to end with the FreeSWITCH engine (event-socket peer)', { timeout: 90_000 }, () => {
  let w: TestWorld | undefined;
  let peer: EslPeer | undefined;
  const dir = tempDir();

  afterEach(async () => {
    await w?.close();
    await peer?.stop();
    w = undefined;
    peer = undefined;
  });
  afterAll(() => dir.remove());

  async function world(plan: NumberPlan | NumberPlan[], env: Record<string, string> = {}): Promise<TestWorld> {
    peer = await startEslPeer({ dir: dir.path, scenario: { numbers: { [PHONE]: plan } } });
    w = await startWorld({
      CALLPAY_TELEPHONY_ENGINE: 'freeswitch',
      CALLPAY_TELEPHONY_FREESWITCH_PORT: String(peer.port),
      CALLPAY_TELEPHONY_FREESWITCH_PASSWORD: 'ClueCon',
      CALLPAY_TELEPHONY_FREESWITCH_RING_TIMEOUT_MS: '5000',
      CALLPAY_IVR_RETRY_DELAY_MS: '300',
      CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '2000',
      CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '2000',
      ...env,
    }, { configuredEngine: true });
    return w;
  }

  const pay = (t: TestWorld, login: string) =>
    t.api('POST', '/v1/payments', { idem: `e2e-fs-${Math.random()}`, body: { amount: 15000, currency: 'TWD', reference: 'e2e', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: login } });

  it('takes a payment: PIN keyed as DTMF events, charged once, /readyz ready while the socket is up', async () => {
    const t = await world(keyed('482916#'));
    expect((await t.api('GET', '/readyz')).status).toBe(200);
    const account = await enrolPrepaid(t, 'alice', '1000', ['--locale', 'en-US']);
    const created = await pay(t, 'alice');
    expect(created.body).toMatchObject({ status: 'calling', live: true });
    expect(await finalOf(t, created.body.id)).toMatchObject({ status: 'succeeded' });
    expect(await t.ctx.store.ledger.available(account)).toBe(100000 - 15000);
    expect(t.db.prepare('SELECT kind FROM transfers WHERE payment_id = ? ORDER BY rowid').pluck().all(created.body.id)).toEqual(['hold', 'post']);
    const attempts = t.db.prepare('SELECT outcome, digit_count AS digits FROM call_attempts WHERE payment_id = ?').all(created.body.id);
    expect(attempts).toEqual([{ outcome: 'answered', digits: 7 }]);
    expect(peer!.commands().filter((c) => c.startsWith('bgapi originate')).length).toBe(1);
    expect(peer!.commands().join('\n')).not.toContain('482916');
  });

  it('declines after three wrong PINs', async () => {
    const t = await world(keyed('1111#2222#3333#'));
    const account = await enrolPrepaid(t, 'alice', '1000');
    const created = await pay(t, 'alice');
    expect(await finalOf(t, created.body.id)).toMatchObject({ status: 'declined', failure_code: 'wrong_pin' });
    expect(await t.ctx.store.ledger.available(account)).toBe(100000);
    expect(t.db.prepare('SELECT count(*) FROM pin_failures').pluck().get()).toBe(3);
  });

  it('declines on "*"', async () => {
    const t = await world(keyed('*'));
    await enrolPrepaid(t, 'bob', '1000');
    const created = await pay(t, 'bob');
    expect(await finalOf(t, created.body.id)).toMatchObject({ status: 'declined', failure_code: 'consumer_declined' });
  });

  it('retries a busy phone and succeeds when it answers', async () => {
    const t = await world([{ outcome: 'busy' }, keyed('482916#')]);
    await enrolPrepaid(t, 'alice', '1000');
    const created = await pay(t, 'alice');
    expect(await finalOf(t, created.body.id)).toMatchObject({ status: 'succeeded' });
    const attempts = t.db.prepare('SELECT attempt, outcome FROM call_attempts WHERE payment_id = ? ORDER BY attempt').all(created.body.id);
    expect(attempts).toEqual([{ attempt: 1, outcome: 'busy' }, { attempt: 2, outcome: 'answered' }]);
  });

  it('fails with no_answer when the phone never answers (originate_timeout, retries included)', async () => {
    const t = await world({ outcome: 'no_answer' }, { CALLPAY_IVR_RETRY_ATTEMPTS: '1' });
    await enrolPrepaid(t, 'alice', '1000');
    const created = await pay(t, 'alice');
    expect(await finalOf(t, created.body.id)).toMatchObject({ status: 'failed', failure_code: 'no_answer' });
    expect(t.db.prepare('SELECT count(*) FROM call_attempts WHERE payment_id = ?').pluck().get(created.body.id)).toBe(2);
  });

  it('never dials a locked consumer', async () => {
    const t = await world({ outcome: 'busy' });
    await enrolPrepaid(t, 'alice', '1000');
    await t.cli(['consumer', 'lock', 'alice']);
    const created = await pay(t, 'alice');
    expect(created.body).toMatchObject({ status: 'declined', failure_code: 'consumer_locked' });
    expect(peer!.commands().some((c) => c.includes('originate'))).toBe(false);
  });

  it('fails with the reason when the phone hangs up during the announcement', async () => {
    const t = await world({ outcome: 'answer', clipMs: 200, hangupAfter: 'playback_start1', hangupMs: 300 });
    await enrolPrepaid(t, 'alice', '1000');
    const created = await pay(t, 'alice');
    expect(await finalOf(t, created.body.id)).toMatchObject({ status: 'failed', failure_code: 'hung_up' });
    const transitions = (await t.api('GET', `/v1/payments/${created.body.id}/transitions`)).body.data as Array<{ to: string; reason: string }>;
    expect(transitions.at(-1)).toMatchObject({ to: 'failed', reason: 'call: hung_up' });
  });

  it('/readyz is not ready while the event socket is down, and ready again after reconnecting', async () => {
    const t = await world(keyed('482916#'), { CALLPAY_TELEPHONY_FREESWITCH_RECONNECT_INITIAL_MS: '50', CALLPAY_TELEPHONY_FREESWITCH_RECONNECT_MAX_MS: '200' });
    expect((await t.api('GET', '/readyz')).status).toBe(200);
    const port = peer!.port;
    await peer!.stop();
    await eventually(async () => expect((await t.api('GET', '/readyz')).status).toBe(503), 5000);
    peer = await startEslPeer({ dir: dir.path, port, scenario: { numbers: { [PHONE]: keyed('482916#') } } });
    await eventually(async () => expect((await t.api('GET', '/readyz')).status).toBe(200), 5000);
  });

  it('the event socket drops mid-call: the payment fails as interrupted, nothing is charged, and it is not dialled twice', async () => {
    const t = await world({ outcome: 'answer', clipMs: 200, dropAfter: 'playback_start1', dropMs: 200 }, { CALLPAY_TELEPHONY_FREESWITCH_RECONNECT_INITIAL_MS: '50' });
    const account = await enrolPrepaid(t, 'alice', '1000');
    const created = await pay(t, 'alice');
    const done = await finalOf(t, created.body.id);
    expect(done).toMatchObject({ status: 'failed', failure_code: 'interrupted' });
    expect(await t.ctx.store.ledger.available(account)).toBe(100000);
    expect(t.db.prepare("SELECT count(*) FROM transfers WHERE payment_id = ? AND kind = 'post'").pluck().get(created.body.id)).toBe(0);
    const attempts = t.db.prepare('SELECT outcome, reason FROM call_attempts WHERE payment_id = ?').all(created.body.id) as Array<{ outcome: string; reason: string }>;
    expect(attempts).toHaveLength(1);
    expect(attempts[0]!.reason).toMatch(/interrupted/);
    expect(peer!.commands().filter((c) => c.startsWith('bgapi originate')).length).toBe(1);
  });
});
