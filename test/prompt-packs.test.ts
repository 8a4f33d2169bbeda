import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';
import { checkPrompts } from '../src/ops/doctor.js';
import { measureClip, levelFault, medianLevel } from '../src/ivr/audio-level.js';
import { SHIPPED_PROMPTS_DIR } from '../src/ivr/prompts.js';
import { parseWav } from '../src/telephony/media/wav.js';

/** Issue 17: `callpay prompts check` / doctor's prompt rules, and `callpay prompts import` from the sound sets. */

const ALLISON = '/usr/share/asterisk/sounds/en_US_f_Allison';

interface Issue { code: string; clip?: string }
interface Pack { locale: string; issues: Issue[]; sources: Record<string, number> }
interface Manifest { pack?: Record<string, unknown>; clips: Record<string, { file: string; source?: string; sourceFile?: string; kept?: string }> }

/** An 8 kHz (or other) 16-bit PCM WAV of `samples`. */
function wavOf(samples: Int16Array, rate = 8000, channels = 1): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + samples.length * 2, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(samples.length * 2, 40);
  return Buffer.concat([h, Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength)]);
}

const samplesOf = (file: string) => parseWav(readFileSync(file), file);
const sox = (...args: string[]) => execFileSync('sox', ['-D', ...args], { timeout: 15_000 });

describe('clip levels (pure)', () => {
  it('measures active level, ignores silence around speech, finds silence and clipping', () => {
    const tone = Int16Array.from({ length: 8000 }, (_, n) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * n) / 8000)));
    const padded = new Int16Array(24000);
    padded.set(tone, 8000);
    const a = measureClip(tone);
    const b = measureClip(padded);
    expect(a.activeDb).toBeCloseTo(20 * Math.log10(8000 / 32768 / Math.SQRT2), 1);
    expect(b.activeDb).toBeCloseTo(a.activeDb, 1); // leading and trailing silence do not lower it
    expect(b.activeMs).toBe(1000);
    expect(levelFault(measureClip(new Int16Array(8000)), null)?.kind).toBe('silent');
    const clipped = tone.map((s) => Math.max(-32768, Math.min(32767, s * 8)));
    expect(levelFault(measureClip(clipped), null)?.kind).toBe('clipped');
    expect(levelFault(a, a.activeDb + 7)?.kind).toBe('loudness');
    expect(levelFault(a, a.activeDb + 5)).toBeNull();
    expect(medianLevel([-20, -Infinity, -10, -30, -18])).toBe(-19);
  });
});

describe('callpay prompts check', { timeout: 60_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  let prompts: string;
  beforeEach(() => {
    dir = tempDir();
    prompts = join(dir.path, 'prompts');
    cpSync(SHIPPED_PROMPTS_DIR, prompts, { recursive: true });
  });
  afterEach(() => dir.remove());

  const check = async (...args: string[]) => {
    const r = await runCli(['prompts', 'check', '--dir', prompts, '--json', ...args], { cwd: dir.path });
    return { code: r.code, packs: (JSON.parse(r.stdout) as { packs: Pack[] }).packs, stderr: r.stderr };
  };
  const issuesOf = (packs: Pack[], locale: string) => packs.find((p) => p.locale === locale)!.issues;

  it('passes on the shipped packs (default directory, every locale)', async () => {
    const r = await runCli(['prompts', 'check'], { cwd: dir.path });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^ok {4}en-US .*espeak-ng/m);
    expect(r.stdout).toMatch(/^ok {4}zh-TW /m);
  });

  it('fails on a missing clip, and on a manifest entry whose file is gone', async () => {
    const manifestFile = join(prompts, 'en-US/manifest.json');
    const m = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
    delete m.clips['digits/7'];
    writeFileSync(manifestFile, JSON.stringify(m));
    rmSync(join(prompts, 'zh-TW/digits/3.wav'));
    const r = await check();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[prompts_check_failed]');
    expect(issuesOf(r.packs, 'en-US')).toEqual([expect.objectContaining({ code: 'clip_missing', clip: 'digits/7' })]);
    expect(issuesOf(r.packs, 'zh-TW')).toEqual([expect.objectContaining({ code: 'file_missing', clip: 'digits/3' })]);
  });

  it('fails on a clip in the wrong format (16 kHz)', async () => {
    const file = join(prompts, 'en-US/digits/4.wav');
    sox(join(SHIPPED_PROMPTS_DIR, 'en-US/digits/4.wav'), '-r', '16000', file);
    const r = await check('--locale', 'en-US');
    expect(r.code).toBe(1);
    expect(r.packs.map((p) => p.locale)).toEqual(['en-US']);
    expect(issuesOf(r.packs, 'en-US')).toEqual([expect.objectContaining({ code: 'file_invalid', clip: 'digits/4' })]);
  });

  it('fails on a silent clip', async () => {
    writeFileSync(join(prompts, 'en-US/ivr/goodbye.wav'), wavOf(new Int16Array(8000).map((_, i) => (i % 2 ? 3 : -3))));
    const r = await check('--locale', 'en-US');
    expect(issuesOf(r.packs, 'en-US')).toEqual([expect.objectContaining({ code: 'silent', clip: 'ivr/goodbye' })]);
  });

  it('fails on a much louder clip, and a clipped one (doctor too)', async () => {
    const loud = join(prompts, 'zh-TW/digits/5.wav');
    const src = samplesOf(join(SHIPPED_PROMPTS_DIR, 'zh-TW/digits/5.wav'));
    // +10 dB without clipping: the shipped clips peak at -3 dBFS, so compress the peaks instead of scaling them past full scale.
    writeFileSync(loud, wavOf(src.map((s) => Math.round(Math.tanh((s * 3.16) / 26000) * 26000))));
    const clipped = join(prompts, 'zh-TW/digits/6.wav');
    writeFileSync(clipped, wavOf(samplesOf(join(SHIPPED_PROMPTS_DIR, 'zh-TW/digits/6.wav')).map((s) => Math.max(-32768, Math.min(32767, s * 6)))));
    const r = await check('--locale', 'zh-TW');
    expect(r.code).toBe(1);
    const codes = issuesOf(r.packs, 'zh-TW').map((i) => `${i.clip}:${i.code}`);
    expect(codes).toContain('digits/5:loudness');
    expect(codes).toContain('digits/6:clipped');
    const doctor = await checkPrompts(prompts, []);
    expect(doctor.find((c) => c.check === 'prompts-zh-TW')).toMatchObject({ status: 'fail', detail: expect.stringContaining('[loudness]') });
    expect(doctor.find((c) => c.check === 'prompts-en-US')).toMatchObject({ status: 'pass' });
  });
});

describe('callpay prompts import', { timeout: 60_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => dir.remove());
  const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { cwd: dir.path, env });
  const manifestOf = (root: string, locale = 'en-US') => JSON.parse(readFileSync(join(root, locale, 'manifest.json'), 'utf8')) as Manifest;

  it('imports the en-US pack from asterisk-core-sounds-en-wav: Allison\'s files byte for byte, the rest kept, licence recorded', async () => {
    expect(existsSync(ALLISON), 'asterisk-core-sounds-en-wav is installed (scripts/test.sh installs it)').toBe(true);
    const out = join(dir.path, 'packs');
    const r = await cli(['prompts', 'import', '--locale', 'en-US', '--from', 'asterisk', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('licence CC-BY-SA-3.0');
    const m = manifestOf(out);
    expect(m.pack).toMatchObject({ set: 'Asterisk core sounds (en_US_f_Allison)', licence: 'CC-BY-SA-3.0', copyright: expect.stringContaining('Allison Smith'), gainDb: 0 });
    for (const n of [0, 7, 13, 19, 20, 90]) {
      expect(m.clips[`digits/${n}`]).toMatchObject({ source: 'asterisk', sourceFile: join(ALLISON, `digits/${n}.wav`) });
      expect(readFileSync(join(out, 'en-US', m.clips[`digits/${n}`]!.file)).equals(readFileSync(join(ALLISON, `digits/${n}.wav`)))).toBe(true);
    }
    expect(m.clips['digits/hundred']).toMatchObject({ sourceFile: join(ALLISON, 'digits/hundred.wav') });
    expect(m.clips['currency/dollars']).toMatchObject({ sourceFile: join(ALLISON, 'digits/dollars.wav') });
    // Words Allison never recorded, and callpay's own sentences, stay from the generator, marked as such.
    expect(m.clips['currency/cents']).toMatchObject({ source: 'espeak-ng', kept: 'generator' });
    expect(m.clips['ivr/enter-pin']).toMatchObject({ source: 'espeak-ng', kept: 'generator' });
    // The other locale was seeded so the root can be ivr.promptsDir as is; no staging directory is left.
    expect(readdirSync(out).sort()).toEqual(['en-US', 'zh-TW']);
    const checked = await cli(['prompts', 'check', '--json'], { CALLPAY_IVR_PROMPTS_DIR: out });
    expect(checked.code, checked.stdout).toBe(0);
    expect((JSON.parse(checked.stdout) as { packs: Pack[] }).packs[0]!.sources).toMatchObject({ asterisk: expect.any(Number), 'espeak-ng': expect.any(Number) });

    // Re-import over it: an operator's recording of a word the set also has stays.
    const recorded = join(out, 'en-US', 'digits/5.wav');
    writeFileSync(recorded, wavOf(samplesOf(join(SHIPPED_PROMPTS_DIR, 'en-US/digits/5.wav'))));
    const edited = manifestOf(out);
    edited.clips['digits/5'] = { file: 'digits/5.wav', source: 'recorded' };
    delete edited.clips['ivr/approved']; // as if callpay's upgrade brought a new sentence: it comes from the shipped pack
    writeFileSync(join(out, 'en-US/manifest.json'), JSON.stringify({ locale: 'en-US', clips: edited.clips }));
    expect((await cli(['prompts', 'import', '--locale', 'en-US', '--from', `asterisk:${ALLISON}`], { CALLPAY_IVR_PROMPTS_DIR: out })).code).toBe(0);
    const again = manifestOf(out);
    expect(again.clips['digits/5']).toMatchObject({ source: 'recorded', kept: 'recording' });
    expect(again.clips['digits/6']).toMatchObject({ source: 'asterisk' });
    expect(again.clips['ivr/approved']).toMatchObject({ source: 'espeak-ng', kept: 'generator' });
    expect(readdirSync(out).sort()).toEqual(['en-US', 'zh-TW']);
  });

  it('imports a FreeSWITCH-layout set at 16 kHz stereo, converting it and levelling it to the kept clips', async () => {
    const voice = join(dir.path, 'sounds/en/us/callie');
    for (const n of [1, 2, 3, 4, 5]) {
      mkdirSync(join(voice, 'digits/16000'), { recursive: true });
      // A quiet studio set: 16 kHz stereo, 14 dB below the generated clips.
      sox(join(SHIPPED_PROMPTS_DIR, `en-US/digits/${n}.wav`), '-r', '16000', '-c', '2', join(voice, `digits/16000/${n}.wav`), 'gain', '-14');
    }
    mkdirSync(join(voice, 'currency/8000'), { recursive: true });
    sox(join(SHIPPED_PROMPTS_DIR, 'en-US/currency/cents.wav'), join(voice, 'currency/8000/cents.wav'), 'gain', '-14');
    const out = join(dir.path, 'packs');
    const r = await cli(['prompts', 'import', '--locale', 'en-US', '--from', `freeswitch:${voice}`, '--out', out, '--licence', 'MPL-1.1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { gainDb: number; imported: Array<{ clip: string; converted: boolean }> };
    expect(result.imported.map((i) => i.clip)).toEqual(['currency/cents', 'digits/1', 'digits/2', 'digits/3', 'digits/4', 'digits/5']);
    expect(result.imported.every((i) => i.converted)).toBe(true);
    expect(result.gainDb).toBeGreaterThan(10);
    expect(manifestOf(out).pack).toMatchObject({ licence: 'MPL-1.1' });
    expect(manifestOf(out).clips['digits/3']).toMatchObject({ source: 'freeswitch', sourceFile: join(voice, 'digits/16000/3.wav') });
    expect((await cli(['prompts', 'check', '--dir', out])).code).toBe(0);
  });

  it('refuses with stable codes: unknown set, missing directory, no output directory; a failing pack installs nothing', async () => {
    const out = join(dir.path, 'packs');
    const err = async (args: string[], env: Record<string, string> = {}) => {
      const r = await cli(['prompts', 'import', '--locale', 'en-US', ...args], env);
      expect(r.code).toBe(1);
      return r.stderr;
    };
    expect(await err(['--from', 'pbx', '--out', out])).toContain('[sound_set_unknown]');
    expect(await err(['--from', `asterisk:${join(dir.path, 'nowhere')}`, '--out', out])).toMatch(/nowhere.*\[sound_set_missing\]/);
    expect(await err(['--from', `freeswitch:${join(dir.path, 'nowhere')}`, '--out', out])).toContain('[sound_set_missing]');
    expect(await err(['--from', 'asterisk'])).toContain('[prompts_dir_unset]');
    expect(await err(['--from', 'asterisk', '--out', SHIPPED_PROMPTS_DIR])).toContain('[prompts_dir_unset]');

    // A set whose "five" is silence: the check refuses the pack, the previous one stays, nothing is left behind.
    mkdirSync(join(out, 'en-US'), { recursive: true });
    cpSync(join(SHIPPED_PROMPTS_DIR, 'en-US'), join(out, 'en-US'), { recursive: true });
    const before = readFileSync(join(out, 'en-US/manifest.json'), 'utf8');
    const bad = join(dir.path, 'bad');
    mkdirSync(join(bad, 'digits'), { recursive: true });
    writeFileSync(join(bad, 'digits/5.wav'), wavOf(new Int16Array(8000)));
    expect(await err(['--from', `asterisk:${bad}`, '--out', out])).toMatch(/digits\/5.*\[silent\].*\[pack_check_failed\]/);
    expect(readFileSync(join(out, 'en-US/manifest.json'), 'utf8')).toBe(before);
    expect(readdirSync(out)).toEqual(['en-US']);

    // A clip to keep whose file is gone: named, nothing installed.
    rmSync(join(out, 'en-US/ivr/approved.wav'));
    expect(await err(['--from', 'asterisk', '--out', out])).toMatch(/ivr\/approved\.wav.*\[base_pack_invalid\]/);
    expect(readdirSync(out)).toEqual(['en-US']);
  });
});
