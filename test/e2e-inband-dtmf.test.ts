import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, startCallingWorld, type TestWorld } from './helpers/daemon.js';
import { startSipp, type Sipp } from './helpers/sipp.js';
import { writeTonePcap, type TonePcapOptions } from './helpers/tone-pcap.js';
import { parseWav } from '../src/telephony/media/wav.js';

/**
 * A payment whose PIN the phone keys as in-band tones (issue 12, item 1): `serve`'s daemon with the
 * embedded engine calls sipp, which replays G.711 audio carrying DTMF tone pairs (sipp plays pcaps
 * through a raw socket: root or CAP_NET_RAW).
 */
describe('end to end: PIN keyed as in-band tones', { timeout: 90_000 }, () => {
  let w: TestWorld | undefined;
  let sipp: Sipp | undefined;
  const cleanups: Array<() => void> = [];

  afterEach(async () => {
    await w?.close();
    await sipp?.stop();
    for (const c of cleanups.splice(0)) c();
    w = undefined;
    sipp = undefined;
  });

  async function payWith(scenario: string, pcap: TonePcapOptions, env: Record<string, string> = {}, vars: Record<string, string> = {}) {
    const file = join(tmpdir(), `callpay-inband-${process.pid}-${Date.now()}.pcap`);
    cleanups.push(() => rmSync(file, { force: true }));
    writeTonePcap(file, pcap);
    sipp = await startSipp({ scenario, pcap: file, vars, timeoutMs: 40_000 });
    w = await startCallingWorld(sipp.port, {
      CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000',
      CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '4000',
      CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '2000',
      ...env,
    });
    const t = w;
    await enrolPrepaid(t, 'alice', '1000', ['--locale', 'en-US']);
    const created = await t.api('POST', '/v1/payments', {
      key: t.apiKey, idem: `inband-${Math.random()}`,
      body: { amount: 15000, currency: 'TWD', reference: 'inband', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: 'alice' },
    });
    expect(created.body).toMatchObject({ status: 'calling', live: true });
    const done = await eventually(async () => {
      const p = (await t.api('GET', `/v1/payments/${created.body.id}`, { key: t.apiKey })).body as { status: string; failure_code: string | null };
      expect(['succeeded', 'declined', 'failed']).toContain(p.status);
      return p;
    }, 40_000);
    const attempts = t.db.prepare('SELECT outcome, digit_count AS digits FROM call_attempts WHERE payment_id = ?').all(created.body.id);
    return { done, attempts };
  }

  it('takes the PIN from tones when the phone negotiated no telephone-event', async () => {
    const { done, attempts } = await payWith('answer-dtmf-inband', { digits: '482916#' });
    expect(done).toMatchObject({ status: 'succeeded' });
    expect(attempts).toEqual([{ outcome: 'answered', digits: 7 }]);
  });

  it('hears no false digit in speech before and between the keys', async () => {
    const speech = parseWav(readFileSync('prompts/en-US/ivr/requests-payment-of.wav'), 'speech');
    const { done, attempts } = await payWith('answer-dtmf-inband', { digits: '482916#', leadMs: 2500, gapMs: 300, speech });
    expect(done).toMatchObject({ status: 'succeeded' });
    expect(attempts).toEqual([{ outcome: 'answered', digits: 7 }]);
  });

  it('takes the PIN from tones on a PCMA line, keyed while the caller talks', async () => {
    const speech = parseWav(readFileSync('prompts/en-US/ivr/requests-payment-of.wav'), 'speech');
    const pcap = { digits: '482916#', leadMs: 2500, gapMs: 300, speech, speechUnderTonesDb: 6, codec: 'PCMA' as const };
    const { done, attempts } = await payWith('answer-dtmf-inband', pcap, {}, { audio_pts: '8' });
    expect(done).toMatchObject({ status: 'succeeded' });
    expect(attempts).toEqual([{ outcome: 'answered', digits: 7 }]);
  });

  it('counts a key sent both as RFC 4733 events and as tones once', async () => {
    const { done, attempts } = await payWith('answer-dtmf', { digits: '482916#', eventPayloadType: 101 }, { CALLPAY_TELEPHONY_RTP_INBAND_DTMF: 'always' });
    expect(done).toMatchObject({ status: 'succeeded' });
    expect(attempts).toEqual([{ outcome: 'answered', digits: 7 }]);
  });
});
