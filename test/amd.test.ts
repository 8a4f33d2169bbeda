import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MachineDetector, toneBin } from '../src/telephony/media/amd.js';
import { Screening } from '../src/telephony/media/screening.js';
import { parseWav } from '../src/telephony/media/wav.js';
import type { ScreenOptions, ScreenResult } from '../src/telephony/engine.js';
import { concat, dualTone, silence, speechLike, tone } from './helpers/greeting-audio.js';
import { eventually } from './helpers/wait.js';

/** The shipped defaults (config/default.json, ivr.machineDetection). */
const RULES: ScreenOptions = { initialSilenceMs: 2000, maxGreetingMs: 2000, afterGreetingSilenceMs: 800, totalAnalysisMs: 3500, minWordMs: 100, maxWords: 4 };

function screen(pcm: Int16Array, rules: Partial<ScreenOptions> = {}, chunk = 160): ScreenResult | null {
  const d = new MachineDetector({ ...RULES, ...rules });
  for (let i = 0; i < pcm.length; i += chunk) if (d.push(pcm.subarray(i, i + chunk))) break;
  return d.result;
}

/** Words of `wordMs` noise with `gapMs` pauses. */
const words = (n: number, wordMs: number, gapMs: number, seed = 3) =>
  concat(...Array.from({ length: n }, (_, i) => concat(speechLike(wordMs, seed + i, [0, 0]), silence(gapMs))));

const shippedSpeech = () => {
  const dir = 'prompts/en-US/ivr';
  return concat(...readdirSync(dir).filter((f) => f.endsWith('.wav')).map((f) => parseWav(readFileSync(join(dir, f)), f)));
};

describe('answering-machine detector (app_amd rules on received audio)', () => {
  it.each([
    { name: 'silence: a person waiting', audio: () => silence(4000), verdict: 'unknown', reason: 'initial_silence', at: [2000, 2000] },
    { name: 'a short "hello", then silence', audio: () => concat(speechLike(600, 1), silence(3000)), verdict: 'human', reason: 'after_greeting_silence', at: [1300, 1500] },
    { name: '"hello? hello?" with a pause between', audio: () => concat(speechLike(500, 2), silence(500), speechLike(500, 4), silence(3000)), verdict: 'human', reason: 'after_greeting_silence', at: [2200, 2500] },
    { name: 'a click too short for a word, then silence', audio: () => concat(speechLike(60, 5, [0, 0]), silence(4000)), verdict: 'unknown', reason: 'initial_silence', at: [2000, 2100] },
    { name: 'a 4 s greeting with short pauses', audio: () => concat(speechLike(4000, 7), silence(1000)), verdict: 'machine', reason: 'max_words', at: [300, 2500] },
    { name: 'one long unbroken greeting', audio: () => concat(speechLike(4000, 8, [0, 0]), silence(1000)), verdict: 'machine', reason: 'long_greeting', at: [2000, 2100] },
    { name: 'five separate words', audio: () => words(5, 200, 250), verdict: 'machine', reason: 'max_words', at: [1800, 2000] },
    { name: 'a short greeting, a pause, a 1 kHz beep', audio: () => concat(speechLike(600, 9), silence(300), tone(1000, 400), silence(2000)), verdict: 'machine', reason: 'beep', at: [1000, 1100] },
    { name: 'a 440 Hz beep after silence', audio: () => concat(silence(500), tone(440, 400), silence(2000)), verdict: 'machine', reason: 'beep', at: [600, 700] },
    { name: 'a 1430 Hz beep (between filters), quiet', audio: () => concat(silence(200), tone(1430, 300, 1500), silence(2000)), verdict: 'machine', reason: 'beep', at: [300, 400] },
    { name: 'a tone too short for a beep (100 ms), then silence', audio: () => concat(speechLike(600, 10), silence(100), tone(1000, 100), silence(2000)), verdict: 'human', reason: 'after_greeting_silence', at: [1500, 1700] },
    { name: 'a DTMF key is two tones, not a beep', audio: () => concat(dualTone(697, 1209, 300), silence(2000)), verdict: 'human', reason: 'after_greeting_silence', at: [1000, 1200] },
    { name: 'words spaced so that nothing decides: total time', audio: () => words(5, 300, 700), verdict: 'unknown', reason: 'total_time', at: [3500, 3500] },
  ] as const)('$name → $verdict ($reason)', ({ audio, verdict, reason, at }) => {
    const r = screen(audio());
    expect(r).toMatchObject({ verdict, reason });
    expect(r!.elapsedMs).toBeGreaterThanOrEqual(at[0]);
    expect(r!.elapsedMs).toBeLessThanOrEqual(at[1]);
  });

  it('decides the same whatever the chunk sizes', () => {
    const audio = concat(speechLike(600, 11), silence(300), tone(1000, 400), silence(500));
    const whole = screen(audio, {}, audio.length);
    for (const chunk of [7, 80, 160, 241]) expect(screen(audio, {}, chunk)).toEqual(whole);
  });

  it('follows its rules: a longer allowed greeting, fewer words, a shorter initial silence', () => {
    const greeting = concat(speechLike(2500, 12, [0, 0]), silence(1000));
    expect(screen(greeting)).toMatchObject({ verdict: 'machine', reason: 'long_greeting' });
    expect(screen(greeting, { maxGreetingMs: 3000, totalAnalysisMs: 5000 })).toMatchObject({ verdict: 'human', reason: 'after_greeting_silence' });
    expect(screen(words(3, 200, 250), { maxWords: 2 })).toMatchObject({ verdict: 'machine', reason: 'max_words' });
    expect(screen(silence(2000), { initialSilenceMs: 1000 })).toMatchObject({ reason: 'initial_silence', elapsedMs: 1000 });
  });

  it('hears no beep in speech: speech-like noise (many seeds) and every shipped en-US prompt', () => {
    for (let seed = 100; seed < 130; seed++) expect(screen(speechLike(3000, seed))?.reason).not.toBe('beep');
    const speech = shippedSpeech();
    const d = new MachineDetector({ ...RULES, maxGreetingMs: 9000, totalAnalysisMs: 10_000, maxWords: 50, afterGreetingSilenceMs: 5000 });
    for (let i = 0; i + 160 <= Math.min(speech.length, 80_000); i += 160) d.push(speech.subarray(i, i + 160));
    expect(d.result?.reason).not.toBe('beep');
  });

  it('finds the one tone of a frame, not of noise or two tones', () => {
    expect(toneBin(tone(1000, 20))).toBe(20);
    expect(toneBin(tone(1025, 20))).toBeGreaterThanOrEqual(20);
    expect(toneBin(speechLike(20, 1, [0, 0]))).toBe(-1);
    expect(toneBin(dualTone(852, 1477, 20))).toBe(-1);
    expect(toneBin(silence(20))).toBe(-1);
  });

  it('counts time without audio as silence, and a key as a person', () => {
    const d = new MachineDetector(RULES);
    d.push(speechLike(500, 13));
    expect(d.pushSilence(40)).toMatchObject({ verdict: 'human', reason: 'after_greeting_silence' });
    const keyed = new MachineDetector(RULES);
    expect(keyed.finish('human', 'digit')).toMatchObject({ verdict: 'human', reason: 'digit' });
    expect(keyed.push(speechLike(3000, 14))).toMatchObject({ reason: 'digit' });
  });
});

describe('greeting screen in the media worker (timers)', () => {
  it('a phone that sends no audio at all: initial silence on the wall clock, reported once', async () => {
    const results: ScreenResult[] = [];
    const s = new Screening({ ...RULES, initialSilenceMs: 300, totalAnalysisMs: 1000 }, (r) => results.push(r));
    await eventually(() => expect(results).toHaveLength(1), 3000);
    expect(results[0]).toMatchObject({ verdict: 'unknown', reason: 'initial_silence' });
    s.cancel();
    s.push(speechLike(500, 15));
    expect(results).toHaveLength(1);
  });

  it('a cancelled screen reports hung_up', () => {
    const results: ScreenResult[] = [];
    const s = new Screening(RULES, (r) => results.push(r));
    s.push(speechLike(300, 16));
    s.cancel();
    expect(results).toEqual([expect.objectContaining({ verdict: 'unknown', reason: 'hung_up' })]);
  });
});
