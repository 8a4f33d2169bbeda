import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { enrolPrepaid, finalOf, startCallingWorld, type TestWorld } from './helpers/daemon.js';
import { startSipp, type Sipp } from './helpers/sipp.js';
import { writeDtmfPcap } from './helpers/pcap.js';
import { usePgWorlds, WORLD_STORES } from './helpers/pg-world.js';

/**
 * The call records of real calls: the embedded engine dials sipp, which answers busy first and then
 * keys the PIN; the merchant API and the operator CLI show both attempts as the engine recorded them.
 */
usePgWorlds();

describe.each(WORLD_STORES)('call records of real SIP calls (%s)', { timeout: 90_000 }, (store) => {
  let w: TestWorld | undefined;
  let sipp: Sipp | undefined;
  const pcap = join(tmpdir(), `callpay-cdr-${process.pid}-${store}-${Date.now()}.pcap`);

  afterAll(async () => {
    await w?.close();
    await sipp?.stop();
    rmSync(pcap, { force: true });
  });

  it('busy (486) then answered with 7 keys: times, statuses, digit count, masked number; never the digits', async () => {
    writeDtmfPcap(pcap, { digits: '482916#', leadMs: 1500, silencePayloadType: 0, gapMs: 150 });
    sipp = await startSipp({ scenario: 'busy-then-answer', pcap, calls: 2, timeoutMs: 40_000 });
    w = await startCallingWorld(sipp.port, {
      CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000',
      CALLPAY_IVR_RETRY_DELAY_MS: '300',
      CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '2000',
      CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '2000',
    }, { store });
    await enrolPrepaid(w, 'alice', '1000');
    const created = await w.api('POST', '/v1/payments', {
      idem: 'cdr-e2e',
      body: { amount: 15000, currency: 'TWD', reference: 'cdr', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: 'alice' },
    });
    expect(await finalOf(w, created.body.id)).toMatchObject({ status: 'succeeded' });

    const r = await w.api('GET', `/v1/payments/${created.body.id}/calls`);
    expect(r.status).toBe(200);
    const [busy, answered] = r.body.data;
    expect(r.body.data).toHaveLength(2);
    expect(busy).toMatchObject({ attempt: 1, outcome: 'busy', sip_status: 486, answered_at: null, digit_count: 0, number: '+886 9** *** 678' });
    expect(answered).toMatchObject({ attempt: 2, outcome: 'answered', sip_status: 200, digit_count: 7, number: '+886 9** *** 678' });
    expect(answered.call_id).not.toBe(busy.call_id);
    expect(answered.call_id.length).toBeGreaterThan(0);
    const t = (s: string) => Date.parse(s);
    expect(t(busy.started_at)).toBeLessThanOrEqual(t(busy.ended_at));
    expect(t(busy.ended_at)).toBeLessThanOrEqual(t(answered.started_at));
    expect(t(answered.started_at)).toBeLessThan(t(answered.answered_at));
    expect(t(answered.answered_at)).toBeLessThan(t(answered.ended_at));
    expect(JSON.stringify(r.body)).not.toContain('482916');
    expect(JSON.stringify(r.body)).not.toContain('912345678');

    const shown = await w.cli(['call', 'show', created.body.id, '--json']);
    expect(shown.code).toBe(0);
    expect((JSON.parse(shown.stdout) as { calls: unknown[] }).calls).toEqual(r.body.data);
    expect((await sipp.outcome()).code, sipp.logs()).toBe(0);
  });
});
