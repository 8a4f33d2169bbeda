import { afterEach, describe, expect, it } from 'vitest';
import { enrolPrepaid, finalOf, startCallingWorld, type TestWorld } from './helpers/daemon.js';
import { parseSipTrace, startSipp, type Sipp } from './helpers/sipp.js';

/**
 * A call the network shows forwarded away from the enrolled line (issue 16, item 3): with
 * risk.sipForwarding = refuse (the default) it is cancelled while it rings, or hung up on before a
 * word is said when only the answer shows it; the payment is declined call_forwarded and nothing is
 * charged. sipp plays the forwarding line.
 */
describe('end to end: a forwarded call is never announced', { timeout: 60_000 }, () => {
  let w: TestWorld | undefined;
  let sipp: Sipp | undefined;
  afterEach(async () => {
    await w?.close();
    await sipp?.stop();
    w = undefined;
    sipp = undefined;
  });

  async function payThrough(scenario: string, env: Record<string, string> = {}) {
    sipp = await startSipp({ scenario, timeoutMs: 30_000 });
    w = await startCallingWorld(sipp.port, {
      CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000', CALLPAY_IVR_RETRY_DELAY_MS: '300', CALLPAY_IVR_PIN_TRIES: '1',
      CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '1000', CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '1000', ...env,
    });
    const account = await enrolPrepaid(w, 'alice', '1000');
    const created = await w.api('POST', '/v1/payments', {
      idem: `fwd-${Math.random()}`,
      body: { amount: 15000, currency: 'TWD', reference: 'fwd', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: 'alice' },
    });
    expect(created.status).toBe(201);
    const id = (created.body as { id: string }).id;
    const done = await finalOf(w, id);
    const calls = (await w.api('GET', `/v1/payments/${id}/calls`)).body as { data: Array<{ outcome: string; reason: string | null; sip_status: number | null }> };
    return { id, done, calls: calls.data, available: await w.ctx.store.ledger.available(account), trace: parseSipTrace(sipp.messages()) };
  }

  it('a 181 with a Diversion header while ringing: CANCELled at once, declined call_forwarded, not retried, nothing charged', async () => {
    const r = await payThrough('forwarding-rings');
    expect(r.done).toMatchObject({ status: 'declined', failure_code: 'call_forwarded' });
    expect(r.available).toBe(100000);
    expect(r.calls).toHaveLength(1);
    expect(r.calls[0]).toMatchObject({ outcome: 'forwarded', reason: 'call forwarded (181, diversion)' });
    const received = r.trace.filter((m) => m.direction === 'received').map((m) => m.firstLine.split(' ')[0]);
    expect(received).toContain('CANCEL');
    expect(received.filter((m) => m === 'INVITE')).toHaveLength(1);
    expect((await sipp!.outcome()).code, sipp!.logs()).toBe(0); // 200 to the CANCEL, 487, ACK
  });

  it('a History-Info of two entries only in the 200: ACK then BYE before any audio, declined call_forwarded', async () => {
    const r = await payThrough('answer-history-info');
    expect(r.done).toMatchObject({ status: 'declined', failure_code: 'call_forwarded' });
    expect(r.calls[0]).toMatchObject({ outcome: 'forwarded', reason: 'call forwarded (history-info)', sip_status: 200 });
    const received = r.trace.filter((m) => m.direction === 'received').map((m) => m.firstLine.split(' ')[0]);
    expect(received).toEqual(['INVITE', 'ACK', 'BYE']);
    expect((await sipp!.outcome()).code, sipp!.logs()).toBe(0);
    expect(await w!.query('SELECT outcome FROM call_attempts')).toEqual([{ outcome: 'forwarded' }]);
  });

  it('with risk.sipForwarding = allow the forwarded call is answered and its call script starts, as for any other', async () => {
    const r = await payThrough('answer-forwarded', { CALLPAY_RISK_SIP_FORWARDING: 'allow' });
    // That phone hangs up 1.5 s after answering, during the announcement.
    expect(r.done).toMatchObject({ status: 'failed', failure_code: 'hung_up' });
    expect(r.calls[0]).toMatchObject({ outcome: 'hung_up' });
    expect((await sipp!.outcome()).code, sipp!.logs()).toBe(0);
  });
});
