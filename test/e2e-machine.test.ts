import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, finalOf, startCallingWorld, type TestWorld } from './helpers/daemon.js';
import { startSipp, type Sipp } from './helpers/sipp.js';
import { concat, dtmfTones, openAudioPhone, silence, speechLike, tone, writeAudioPcap, type AudioPhone } from './helpers/greeting-audio.js';
import { loadPromptSet, SHIPPED_PROMPTS_DIR } from '../src/ivr/prompts.js';
import { GREETING } from '../src/ivr/say/index.js';
import { parseWav } from '../src/telephony/media/wav.js';
import { encode } from '../src/telephony/media/g711.js';

/**
 * The voicemail guard (issue 16, item 4) end to end: `serve`'s daemon with the embedded engine calls
 * sipp, whose "phone" talks first with generated audio: a recorded greeting or a beep must get a
 * hang-up before the merchant or the amount is said (outcome machine_detected, the payment on the
 * no-answer path); a "hello" or silence must get the call as usual. sipp plays pcaps through a raw
 * socket (root or CAP_NET_RAW); where what callpay sent matters, the phone's media is a socket of the
 * test's own (answer-capture.xml).
 */
const PIN = '482916#';
/** A voicemail greeting: 4 s of talk with short pauses (none as long as the after-greeting silence). */
const greeting = () => concat(speechLike(4000, 21), silence(1500));
const hello = () => speechLike(600, 22);

describe('end to end: voicemail guard', { timeout: 90_000 }, () => {
  let w: TestWorld | undefined;
  let sipp: Sipp | undefined;
  let phone: AudioPhone | undefined;
  const cleanups: Array<() => void> = [];

  afterEach(async () => {
    await w?.close();
    await sipp?.stop();
    await phone?.close();
    for (const c of cleanups.splice(0)) c();
    w = sipp = phone = undefined;
  });

  const env = (extra: Record<string, string> = {}) => ({
    CALLPAY_IVR_MACHINE_DETECTION_ENABLED: 'true',
    CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000',
    CALLPAY_IVR_RETRY_DELAY_MS: '300',
    CALLPAY_IVR_RETRY_ATTEMPTS: '0',
    CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '4000',
    CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '2000',
    ...extra,
  });

  async function pay(t: TestWorld): Promise<{ id: string; done: { status: string; failure_code: string | null }; attempts: Array<Record<string, unknown>> }> {
    await enrolPrepaid(t, 'alice', '1000', ['--locale', 'en-US']);
    const created = await t.api('POST', '/v1/payments', {
      idem: `amd-${Math.random()}`,
      body: { amount: 15000, currency: 'TWD', reference: 'amd', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: 'alice' },
    });
    expect(created.body).toMatchObject({ status: 'calling', live: true });
    const done = await finalOf(t, created.body.id);
    const attempts = await t.query('SELECT attempt, outcome, reason, digit_count AS digits FROM call_attempts WHERE payment_id = ? ORDER BY attempt', [created.body.id]);
    return { id: created.body.id, done, attempts };
  }

  /** sipp answers (PCMU/PCMA, no telephone-event: keys are tones) and plays `audio` from a pcap, on each of `calls` calls. */
  async function pcapWorld(audio: Int16Array, extra: Record<string, string> = {}, calls = 1): Promise<TestWorld> {
    const file = join(tmpdir(), `callpay-amd-${process.pid}-${Date.now()}.pcap`);
    cleanups.push(() => rmSync(file, { force: true }));
    writeAudioPcap(file, audio);
    sipp = await startSipp({ scenario: 'answer-dtmf-inband', pcap: file, calls, timeoutMs: 40_000 });
    w = await startCallingWorld(sipp.port, env(extra));
    return w;
  }

  it('a recorded greeting: hung up on as machine_detected, called again, then failed as no_answer', async () => {
    const t = await pcapWorld(greeting(), { CALLPAY_IVR_RETRY_ATTEMPTS: '1' }, 2);
    const { id, done, attempts } = await pay(t);
    expect(done).toEqual(expect.objectContaining({ status: 'failed', failure_code: 'no_answer' }));
    expect(attempts).toEqual([1, 2].map((attempt) => ({ attempt, outcome: 'machine_detected', reason: expect.stringMatching(/^answering machine \((max_words|long_greeting)\)$/), digits: 0 })));
    const listed = JSON.parse((await t.cli(['call', 'list', '--payment', id, '--json'])).stdout) as Array<{ outcome: string }>;
    expect(listed.map((a) => a.outcome)).toEqual(['machine_detected', 'machine_detected']);
    // Fetched directly: the OpenAPI document's outcome list (src/intake/api-schemas.ts) does not have machine_detected yet.
    const calls = await fetch(`${t.daemon.url}/v1/payments/${id}/calls`, { headers: { authorization: `Bearer ${t.apiKey}` }, signal: AbortSignal.timeout(10_000) });
    expect(((await calls.json()) as { data: Array<{ outcome: string }> }).data.map((a) => a.outcome)).toEqual(['machine_detected', 'machine_detected']);
    const transitions = (await t.api('GET', `/v1/payments/${id}/transitions`)).body.data as Array<{ to: string; reason: string }>;
    expect(transitions.at(-1)).toMatchObject({ to: 'failed', reason: 'call: no_answer' });
    expect((await sipp!.outcome()).code, sipp!.logs()).toBe(0);
  });

  it('a short greeting and a beep: machine_detected (beep)', async () => {
    const t = await pcapWorld(concat(speechLike(600, 23), silence(300), tone(1000, 400), silence(2000)));
    const { done, attempts } = await pay(t);
    expect(done).toEqual(expect.objectContaining({ status: 'failed', failure_code: 'no_answer' }));
    expect(attempts).toEqual([{ attempt: 1, outcome: 'machine_detected', reason: 'answering machine (beep)', digits: 0 }]);
  });

  it.each([
    ['a "hello", then silence', () => concat(hello(), silence(3500), dtmfTones(PIN), silence(1000))],
    ['silence', () => concat(silence(3500), dtmfTones(PIN), silence(1000))],
  ])('%s: the call goes on, the PIN is taken', async (_name, audio) => {
    const t = await pcapWorld(audio());
    const { done, attempts } = await pay(t);
    expect(done).toMatchObject({ status: 'succeeded' });
    expect(attempts).toEqual([{ attempt: 1, outcome: 'answered', reason: null, digits: 7 }]);
  });

  it('with the guard off, a greeting hears the announcement (the old behaviour)', async () => {
    const t = await pcapWorld(concat(greeting(), dtmfTones(PIN), silence(1000)), { CALLPAY_IVR_MACHINE_DETECTION_ENABLED: 'false' });
    const { done, attempts } = await pay(t);
    expect(done).toMatchObject({ status: 'succeeded' });
    expect(attempts).toEqual([{ attempt: 1, outcome: 'answered', reason: null, digits: 7 }]);
  });

  describe('what the phone hears', () => {
    const SILENT = 0xff; // PCMU of 0
    const ulaw = (file: string) => Buffer.from(encode('PCMU', parseWav(readFileSync(file), file)));

    async function socketWorld(): Promise<TestWorld> {
      phone = await openAudioPhone();
      sipp = await startSipp({ scenario: 'answer-capture', vars: { rtp_port: String(phone.port) }, timeoutMs: 40_000 });
      // Keys go as tones in the audio although telephone-event was negotiated.
      w = await startCallingWorld(sipp.port, env({ CALLPAY_TELEPHONY_RTP_INBAND_DTMF: 'always' }));
      return w;
    }

    it('a greeting: nothing but silence is sent, no clip', async () => {
      const t = await socketWorld();
      const paying = pay(t);
      await phone!.play(greeting());
      const { done, attempts } = await paying;
      expect(done).toEqual(expect.objectContaining({ status: 'failed', failure_code: 'no_answer' }));
      expect(attempts).toEqual([expect.objectContaining({ outcome: 'machine_detected' })]);
      expect(phone!.received.length).toBeGreaterThan(50); // ≥ 1 s of the stream, all of it silence
      expect(phone!.received.filter((p) => p.some((b) => b !== SILENT))).toEqual([]);
    });

    it('a "hello": the announcement is sent, then the PIN is taken', async () => {
      const t = await socketWorld();
      const paying = pay(t);
      await phone!.play(concat(hello(), silence(1000)));
      const prompts = await loadPromptSet(SHIPPED_PROMPTS_DIR, 'en-US');
      const opening = Buffer.concat(GREETING.map((c) => ulaw(prompts.clip(c))));
      await eventually(() => expect(Buffer.concat(phone!.received).indexOf(opening)).toBeGreaterThan(0), 20_000);
      await phone!.play(concat(dtmfTones(PIN), silence(500)));
      const { done } = await paying;
      expect(done).toMatchObject({ status: 'succeeded' });
    });
  });
});
