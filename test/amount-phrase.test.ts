import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/cli.js';
import { createAmountPhrases } from '../src/ivr/amount-phrase.js';
import { levelFault, measureClip } from '../src/ivr/audio-level.js';
import { checkPromptPack } from '../src/ivr/prompt-check.js';
import { checkPromptWav, SHIPPED_PROMPTS_DIR } from '../src/ivr/prompts.js';
import { parseWav } from '../src/telephony/media/wav.js';

/** Issue 17: the zh-TW amount rendered once as a phrase (espeak-ng + sox), cached, with a clip-by-clip fallback. */
describe('amount phrases', { timeout: 60_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => dir.remove());

  it('renders a zh-TW amount once, in the call format and as loud as the pack; later payments reuse it', async () => {
    const cacheDir = join(dir.path, 'cache');
    const phrases = createAmountPhrases({ cacheDir });
    const [a, b] = await Promise.all([phrases.render(120000, 'TWD', 'zh-TW'), phrases.render(120000, 'TWD', 'zh-TW')]);
    expect(a).not.toBeNull();
    expect(b).toBe(a);
    expect(await checkPromptWav(a!)).toBeNull();
    const mtime = statSync(a!).mtimeMs;
    expect(await phrases.render(120000, 'TWD', 'zh-TW')).toBe(a);
    expect(statSync(a!).mtimeMs).toBe(mtime);
    // "新臺幣一千兩百元" is about a second and a half of speech, not a syllable
    const level = measureClip(parseWav(readFileSync(a!), a!));
    expect(level.activeMs).toBeGreaterThan(800);
    const pack = await checkPromptPack(SHIPPED_PROMPTS_DIR, 'zh-TW');
    expect(levelFault(level, pack.medianDb)).toBeNull();

    const other = await phrases.render(120001, 'TWD', 'zh-TW');
    expect(other).not.toBe(a);
    expect(readdirSync(cacheDir).filter((f) => f.endsWith('.wav'))).toHaveLength(2);
    expect(readdirSync(cacheDir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('gives null (clip by clip) for a locale read clip by clip, a currency it cannot read, and missing tools, telling once', async () => {
    const told: string[] = [];
    const phrases = createAmountPhrases({ cacheDir: join(dir.path, 'cache'), espeakBin: join(dir.path, 'no-espeak-ng'), onFallback: (r) => told.push(r) });
    expect(await phrases.render(120000, 'TWD', 'en-US')).toBeNull();
    expect(await phrases.render(120000, 'XXX', 'zh-TW')).toBeNull();
    expect(await phrases.render(120000, 'TWD', 'zh-TW')).toBeNull();
    expect(await phrases.render(5, 'TWD', 'zh-TW')).toBeNull();
    expect(told).toEqual([expect.stringContaining('espeak-ng is not installed')]);
  });
});
