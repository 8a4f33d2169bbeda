import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  PromptError,
  SHIPPED_PROMPTS_DIR,
  loadPromptSet,
  merchantClip,
  readWavFormat,
  synthesizeMerchantName,
  type PromptSet,
} from '../src/ivr/prompts.js';
import { LOCALES } from '../src/domain/locale.js';
import { GREETING, PHRASES, amountClips, requiredClips, sayAmount } from '../src/ivr/say/index.js';
import { random } from './helpers/random.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'callpay-prompts-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A minimal PCM WAV with `samples` samples of silence. */
function wav({ rate = 8000, channels = 1, bits = 16, format = 1, samples = 80 } = {}): Buffer {
  const data = Buffer.alloc(samples * channels * (bits / 8));
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(format, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE((rate * channels * bits) / 8, 28);
  h.writeUInt16LE((channels * bits) / 8, 32);
  h.writeUInt16LE(bits, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

/** A copy of a shipped locale under the test's directory, with its manifest for editing. */
function copyLocale(locale: string): { manifestFile: string; manifest: { clips: Record<string, { file: string }> } } {
  cpSync(join(SHIPPED_PROMPTS_DIR, locale), join(dir, locale), { recursive: true });
  const manifestFile = join(dir, locale, 'manifest.json');
  return { manifestFile, manifest: JSON.parse(readFileSync(manifestFile, 'utf8')) };
}

async function promptError(run: Promise<unknown>): Promise<PromptError> {
  const e = await run.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(PromptError);
  return e as PromptError;
}

describe.each(LOCALES)('shipped prompts, %s', (locale) => {
  let set: PromptSet;
  beforeEach(async () => {
    set = await loadPromptSet(SHIPPED_PROMPTS_DIR, locale);
  });

  it('has every clip sayAmount returns for 0 .. 99,999,999.99 in TWD and USD', () => {
    const next = random(424242);
    const amounts = [
      ...Array.from({ length: 20_000 }, (_, i) => i * 100), // every major amount to 20,000
      ...Array.from({ length: 10_000 }, (_, i) => i), // every minor part, majors 0 .. 99
      ...Array.from({ length: 5_000 }, () => next(10_000_000_000)), // anywhere up to 99,999,999.99
      9_999_999_999,
    ];
    const used = new Set<string>();
    for (const currency of ['TWD', 'USD']) {
      for (const minor of amounts) for (const c of sayAmount(minor, currency, locale)) used.add(c);
    }
    const missing = [...used].filter((c) => !set.has(c));
    expect(missing).toEqual([]);
    // and the declared inventory covers what was seen, so checking it covers the rest
    expect([...used].filter((c) => !amountClips(locale).includes(c))).toEqual([]);
  });

  it('has every amount clip of every currency and every call script phrase', () => {
    expect(requiredClips(locale).filter((c) => !set.has(c))).toEqual([]);
    for (const phrase of Object.values(PHRASES)) expect(set.text(phrase)).toBeTruthy();
  });

  it('holds only 8 kHz mono 16-bit PCM WAV files with audio, inside the locale directory', async () => {
    for (const name of set.names()) {
      const file = set.clip(name);
      expect(file.startsWith(join(SHIPPED_PROMPTS_DIR, locale))).toBe(true);
      const f = await readWavFormat(file);
      expect({ name, ...f, dataBytes: f.dataBytes > 800 }).toEqual({
        name, audioFormat: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16, dataBytes: true,
      });
    }
  });

  it('stays small enough to commit', () => {
    const bytes = set.names().reduce((n, name) => n + statSync(set.clip(name)).size, 0);
    // 1.5 MiB held the call script; the self-service menu's clips (self/…, issue 16 item 2: about a
    // minute of speech per locale at 16 KB/s) bring a set to about 2.6 MiB.
    expect(bytes).toBeLessThan(3 * 1024 * 1024);
  });

  it('maps the greeting and an announcement to files in order', () => {
    const paths = set.paths([...GREETING, PHRASES.requestsPaymentOf, ...sayAmount(120507, 'TWD', locale)]);
    expect(paths.every((p) => existsSync(p))).toBe(true);
    expect(paths[0]).toBe(set.clip('ivr/this-is'));
  });
});

describe('loadPromptSet on a broken manifest', () => {
  it('names a clip the manifest lacks', async () => {
    const { manifestFile, manifest } = copyLocale('en-US');
    delete manifest.clips['digits/7'];
    writeFileSync(manifestFile, JSON.stringify(manifest));
    const e = await promptError(loadPromptSet(dir, 'en-US'));
    expect(e.code).toBe('clip_missing');
    expect(e.clip).toBe('digits/7');
    expect(e.message).toContain('digits/7');
  });

  it('names the clip and file when a file is gone', async () => {
    const { manifest } = copyLocale('zh-TW');
    const file = join(dir, 'zh-TW', manifest.clips['digits/liang']!.file);
    unlinkSync(file);
    const e = await promptError(loadPromptSet(dir, 'zh-TW'));
    expect(e.code).toBe('file_missing');
    expect(e.clip).toBe('digits/liang');
    expect(e.file).toBe(file);
    expect(e.message).toContain('digits/liang');
    expect(e.message).toContain(file);
  });

  it.each([
    ['16 kHz', { rate: 16000 }],
    ['stereo', { channels: 2 }],
    ['8-bit', { bits: 8 }],
    ['extensible format', { format: 0xfffe }],
    ['empty', { samples: 0 }],
  ])('names the clip and file of a %s WAV', async (_what, opts) => {
    copyLocale('en-US');
    const file = join(dir, 'en-US', 'ivr', 'goodbye.wav');
    writeFileSync(file, wav(opts));
    const e = await promptError(loadPromptSet(dir, 'en-US'));
    expect(e.code).toBe('file_invalid');
    expect(e.clip).toBe('ivr/goodbye');
    expect(e.file).toBe(file);
  });

  it.each([
    ['not a WAV at all', Buffer.from('ID3\u0003 an mp3 pretending')],
    ['a truncated WAV', wav({ samples: 800 }).subarray(0, 100)],
    ['a header without data', wav().subarray(0, 36)],
  ])('refuses %s', async (_what, bytes) => {
    copyLocale('en-US');
    writeFileSync(join(dir, 'en-US', 'digits', '0.wav'), bytes);
    const e = await promptError(loadPromptSet(dir, 'en-US'));
    expect(e.code).toBe('file_invalid');
    expect(e.clip).toBe('digits/0');
  });

  it('refuses a manifest that is not JSON, is for another locale, or has an entry without a file', async () => {
    const { manifestFile, manifest } = copyLocale('en-US');
    writeFileSync(manifestFile, '{ "clips": ');
    expect((await promptError(loadPromptSet(dir, 'en-US'))).code).toBe('manifest_unreadable');

    writeFileSync(manifestFile, JSON.stringify({ ...manifest, locale: 'zh-TW' }));
    expect((await promptError(loadPromptSet(dir, 'en-US'))).code).toBe('manifest_invalid');

    writeFileSync(manifestFile, JSON.stringify({ ...manifest, clips: { ...manifest.clips, 'ivr/goodbye': { text: 'Bye' } } }));
    const e = await promptError(loadPromptSet(dir, 'en-US'));
    expect(e.code).toBe('manifest_invalid');
    expect(e.clip).toBe('ivr/goodbye');
  });

  it('reports a missing prompt set directory', async () => {
    const e = await promptError(loadPromptSet(join(dir, 'nowhere'), 'zh-TW'));
    expect(e.code).toBe('manifest_unreadable');
    expect(e.file).toBe(join(dir, 'nowhere', 'zh-TW', 'manifest.json'));
  });
});

describe('operator recordings', () => {
  it('takes a replacement file named in the manifest, relative or absolute, and a WAV with extra chunks', async () => {
    const { manifestFile, manifest } = copyLocale('en-US');
    const studio = join(dir, 'studio-service-name.wav');
    const plain = wav({ samples: 4000 });
    // a LIST chunk before "data", as studio tools write
    const list = Buffer.concat([Buffer.from('LIST'), Buffer.from([5, 0, 0, 0]), Buffer.from('INFOx'), Buffer.from([0])]);
    writeFileSync(studio, Buffer.concat([plain.subarray(0, 36), list, plain.subarray(36)]));
    manifest.clips['ivr/service-name'] = { file: studio, text: 'the Example Telecom payment service', source: 'recorded' } as never;
    writeFileSync(manifestFile, JSON.stringify(manifest));
    const set = await loadPromptSet(dir, 'en-US');
    expect(set.clip('ivr/service-name')).toBe(studio);
    expect(set.text('ivr/service-name')).toBe('the Example Telecom payment service');
  });

  it('clip() of an unknown name is a PromptError naming it', async () => {
    const set = await loadPromptSet(SHIPPED_PROMPTS_DIR, 'en-US');
    expect(set.has('digits/liang')).toBe(false);
    let caught: unknown;
    try {
      set.clip('digits/liang');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(PromptError);
    expect((caught as PromptError).code).toBe('unknown_clip');
    expect((caught as PromptError).clip).toBe('digits/liang');
  });
});

describe('merchant spoken names', () => {
  it('uses the merchant clip when there is one, else the generic one', async () => {
    const set = await loadPromptSet(SHIPPED_PROMPTS_DIR, 'zh-TW');
    expect(merchantClip(set, '/srv/voices/m1.wav')).toEqual({ path: '/srv/voices/m1.wav', generic: false });
    expect(merchantClip(set, null)).toEqual({ path: set.clip('ivr/a-merchant'), generic: true });
  });

  it('returns null when espeak-ng is not installed', async () => {
    const out = join(dir, 'name.wav');
    expect(await synthesizeMerchantName('Night Market Stall', 'en-US', out, { espeakBin: join(dir, 'no-espeak-ng') })).toBeNull();
    expect(existsSync(out)).toBe(false);
  });

  it('gives up on a synthesizer that hangs, within the timeout', async () => {
    const hang = join(dir, 'hang');
    writeFileSync(hang, '#!/bin/sh\nexec sleep 30\n');
    chmodSync(hang, 0o755);
    const started = Date.now();
    await expect(synthesizeMerchantName('x', 'en-US', join(dir, 'name.wav'), { espeakBin: hang, timeoutMs: 300 })).rejects.toThrow(
      /timed out/,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  // espeak-ng and sox are installed by the test command (scripts/test.sh), as operators may have them.
  it.each([
    ['en-US', '-- Joe\'s "Coffee"; rm -rf /'],
    ['zh-TW', '士林夜市雞排'],
  ] as const)('synthesizes a %s name to a prompt-format WAV', async (locale, name) => {
    const out = join(dir, `${locale}.wav`);
    expect(await synthesizeMerchantName(name, locale, out)).toBe(out);
    const f = await readWavFormat(out);
    expect(f).toMatchObject({ audioFormat: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16 });
    expect(f.dataBytes).toBeGreaterThan(8000); // more than half a second of speech
  });
});

describe('loadPromptSet with several faults', () => {
  it('names the first faulty clip and lists all of them', async () => {
    const { manifest } = copyLocale('zh-TW');
    unlinkSync(join(dir, 'zh-TW', manifest.clips['ivr/goodbye']!.file));
    writeFileSync(join(dir, 'zh-TW', manifest.clips['digits/9']!.file), wav({ rate: 44100 }));
    const e = await promptError(loadPromptSet(dir, 'zh-TW'));
    expect(e.code).toBe('file_invalid');
    expect(e.clip).toBe('digits/9');
    expect(e.message).toContain('ivr/goodbye');
  });
});
