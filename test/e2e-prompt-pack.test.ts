import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';
import { enrolPrepaid, eventually, finalOf, startCallingWorld, type TestWorld } from './helpers/daemon.js';
import { startSipp, type Sipp } from './helpers/sipp.js';
import { openRtpPhone } from './helpers/rtp-phone.js';
import { loadPromptSet, SHIPPED_PROMPTS_DIR } from '../src/ivr/prompts.js';
import { GREETING, PHRASES, sayAmount } from '../src/ivr/say/index.js';
import { parseWav } from '../src/telephony/media/wav.js';
import { encode } from '../src/telephony/media/g711.js';

/**
 * Issue 17's acceptance: an en-US pack imported from Debian's asterisk-core-sounds-en-wav, and a real
 * call to sipp that says the amount in Allison's recordings (byte for byte, as G.711 of the imported
 * files, which are the package's own files) with the rest of the announcement intact.
 */
const ALLISON = '/usr/share/asterisk/sounds/en_US_f_Allison';
const ulaw = (file: string) => Buffer.from(encode('PCMU', parseWav(readFileSync(file), file)));

describe('end to end: a call in an imported Asterisk prompt pack', { timeout: 90_000 }, () => {
  let w: TestWorld | undefined;
  let sipp: Sipp | undefined;
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    await w?.close();
    await sipp?.stop();
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('plays Allison\'s digits for the amount, the generated clips around them', async () => {
    expect(existsSync(ALLISON), 'asterisk-core-sounds-en-wav is installed (scripts/test.sh installs it)').toBe(true);
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const packs = join(dir.path, 'prompts');
    const imported = await runCli(['prompts', 'import', '--locale', 'en-US', '--from', 'asterisk', '--out', packs], { cwd: dir.path });
    expect(imported.code, imported.stderr).toBe(0);

    const rtp = await openRtpPhone();
    cleanups.push(() => rtp.close());
    sipp = await startSipp({ scenario: 'answer-capture', vars: { rtp_port: String(rtp.port) }, timeoutMs: 40_000 });
    w = await startCallingWorld(sipp.port, {
      CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000',
      CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '2000',
      CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '2000',
      CALLPAY_IVR_PROMPTS_DIR: packs,
    });
    const t = w;
    await enrolPrepaid(t, 'alice', '1000', ['--locale', 'en-US']);
    const merchant = JSON.parse((await t.cli(['merchant', 'add', '--name', 'Stall', '--json'])).stdout) as { api_key: string; voice_clip: string };
    const created = await t.api('POST', '/v1/payments', {
      key: merchant.api_key, idem: `pack-${Date.now()}`,
      body: { amount: 12345, currency: 'TWD', reference: 'pack', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: 'alice' },
    });
    expect(created.body).toMatchObject({ status: 'calling' });

    const pack = await loadPromptSet(packs, 'en-US');
    const amount = sayAmount(12345, 'TWD', 'en-US');
    // one hundred twenty three New Taiwan dollars and forty five cents: the numbers and "and" are Allison's
    expect(amount).toEqual(['digits/1', 'digits/hundred', 'digits/20', 'digits/3', 'currency/new-taiwan-dollars', 'currency/and', 'digits/40', 'digits/5', 'currency/cents']);
    for (const clip of amount.filter((c) => c.startsWith('digits/'))) {
      expect(readFileSync(pack.clip(clip)).equals(readFileSync(join(ALLISON, `${clip}.wav`))), clip).toBe(true);
    }
    const greeting = Buffer.concat([...GREETING.map((c) => pack.clip(c)), merchant.voice_clip].map(ulaw));
    const amountPart = Buffer.concat([pack.clip(PHRASES.requestsPaymentOf), ...amount.map((c) => pack.clip(c))].map(ulaw));
    const pinPrompt = ulaw(pack.clip(PHRASES.enterPin));
    const streamOf = () => {
      const received = rtp.packets.filter((p) => p.payloadType === 0);
      const first = received[0]?.sequence ?? 0;
      return Buffer.concat(received.sort((a, b) => ((a.sequence - first) & 0xffff) - ((b.sequence - first) & 0xffff)).map((p) => p.payload));
    };
    // Whatever the script says between the amount and the PIN prompt, key the PIN once the prompt has played whole.
    await eventually(() => expect(streamOf().indexOf(pinPrompt)).toBeGreaterThan(0), 30_000);
    await rtp.sendDigits('482916#');
    expect(await finalOf(t, created.body.id as string, merchant.api_key)).toMatchObject({ status: 'succeeded' });

    const stream = streamOf();
    const at = stream.indexOf(greeting);
    expect(at, 'greeting and merchant name contiguous').toBeGreaterThanOrEqual(0);
    // "requests a payment of" then the amount, clip after clip, byte for byte, right after the merchant's name.
    expect(stream.indexOf(amountPart, at)).toBe(at + greeting.length);
    expect(stream.indexOf(pinPrompt, at + greeting.length + amountPart.length)).toBeGreaterThan(at);
  });

  it('says a zh-TW amount as one phrase rendered before dialling (tone sandhi), the shipped clips around it', async () => {
    const rtp = await openRtpPhone();
    cleanups.push(() => rtp.close());
    sipp = await startSipp({ scenario: 'answer-capture', vars: { rtp_port: String(rtp.port) }, timeoutMs: 40_000 });
    w = await startCallingWorld(sipp.port, {
      CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000',
      CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '2000',
      CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '2000',
    });
    const t = w;
    await enrolPrepaid(t, 'alice', '5000', ['--locale', 'zh-TW']);
    const merchant = JSON.parse((await t.cli(['merchant', 'add', '--name', 'Stall', '--json'])).stdout) as { api_key: string; voice_clip: string };
    const created = await t.api('POST', '/v1/payments', {
      key: merchant.api_key, idem: `phrase-${Date.now()}`,
      body: { amount: 120000, currency: 'TWD', reference: 'phrase', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: 'alice' },
    });
    expect(created.body).toMatchObject({ status: 'calling' });
    const cache = join(dirname(t.ctx.config.database), 'amount-phrases');
    const pack = await loadPromptSet(SHIPPED_PROMPTS_DIR, 'zh-TW');
    const pinPrompt = ulaw(pack.clip(PHRASES.enterPin));
    const streamOf = () => {
      const received = rtp.packets.filter((p) => p.payloadType === 0);
      const first = received[0]?.sequence ?? 0;
      return Buffer.concat(received.sort((a, b) => ((a.sequence - first) & 0xffff) - ((b.sequence - first) & 0xffff)).map((p) => p.payload));
    };
    await eventually(() => expect(streamOf().indexOf(pinPrompt)).toBeGreaterThan(0), 30_000);
    await rtp.sendDigits('482916#');
    expect(await finalOf(t, created.body.id as string, merchant.api_key)).toMatchObject({ status: 'succeeded' });

    const rendered = readdirSync(cache).filter((f) => f.startsWith('zh-TW-') && f.endsWith('.wav'));
    expect(rendered).toHaveLength(1);
    const stream = streamOf();
    const before = Buffer.concat([...GREETING.map((c) => pack.clip(c)), merchant.voice_clip, pack.clip(PHRASES.requestsPaymentOf)].map(ulaw));
    const at = stream.indexOf(before);
    expect(at, 'greeting, merchant, "requests a payment of" contiguous').toBeGreaterThanOrEqual(0);
    // The phrase right after them, byte for byte: no clip-by-clip digits.
    expect(stream.indexOf(ulaw(join(cache, rendered[0]!)), at)).toBe(at + before.length);
    expect(stream.indexOf(ulaw(pack.clip('digits/liang')), at + before.length)).toBe(-1);
  });
});
