import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../src/telephony/media/g711.js';
import { DigitMerger, InbandDtmfDetector, inbandDtmfEnabled } from '../src/telephony/media/inband-dtmf.js';
import { parseWav } from '../src/telephony/media/wav.js';

const RATE = 8000;
const LOW: Record<string, number> = { '1': 697, '2': 697, '3': 697, A: 697, '4': 770, '5': 770, '6': 770, B: 770, '7': 852, '8': 852, '9': 852, C: 852, '*': 941, '0': 941, '#': 941, D: 941 };
const HIGH: Record<string, number> = { '1': 1209, '4': 1209, '7': 1209, '*': 1209, '2': 1336, '5': 1336, '8': 1336, '0': 1336, '3': 1477, '6': 1477, '9': 1477, '#': 1477, A: 1633, B: 1633, C: 1633, D: 1633 };

/** Amplitude of one tone at −10 dBm0 on G.711 (0 dBm0 ≈ 22 700). */
const AMP = 7200;

type Seg = { digit: string; ms: number; lowScale?: number; highScale?: number; lowDb?: number; highDb?: number } | { silence: number };

function signal(segs: Seg[]): Int16Array {
  const parts: number[] = [];
  let phase = 0;
  for (const s of segs) {
    if ('silence' in s) {
      for (let i = 0; i < (s.silence * RATE) / 1000; i++) parts.push(0);
      continue;
    }
    const fl = LOW[s.digit]! * (s.lowScale ?? 1);
    const fh = HIGH[s.digit]! * (s.highScale ?? 1);
    const al = AMP * 10 ** ((s.lowDb ?? 0) / 20);
    const ah = AMP * 10 ** ((s.highDb ?? 0) / 20);
    for (let i = 0; i < (s.ms * RATE) / 1000; i++, phase++) {
      parts.push(Math.round(al * Math.sin((2 * Math.PI * fl * phase) / RATE) + ah * Math.sin((2 * Math.PI * fh * phase) / RATE)));
    }
  }
  return Int16Array.from(parts);
}

/** Through G.711 μ-law, as it comes off the line, and in 160-sample frames, as the worker feeds it. */
function detect(samples: Int16Array, noise = 0): string {
  const d = new InbandDtmfDetector();
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) * 2 - 1;
  const noisy = noise ? samples.map((v) => Math.max(-32768, Math.min(32767, v + Math.round(rnd() * noise)))) : samples;
  const line = decode('PCMU', encode('PCMU', noisy));
  let out = '';
  for (let i = 0; i < line.length; i += 160) out += d.push(line.subarray(i, i + 160)).join('');
  return out;
}

const pause = { silence: 100 };

describe('in-band DTMF detector', () => {
  it('detects every key', () => {
    for (const k of '0123456789*#ABCD') expect(detect(signal([pause, { digit: k, ms: 60 }, pause])), k).toBe(k);
  });

  it('detects a sequence with 40 ms tones and 40 ms pauses', () => {
    const segs: Seg[] = [pause];
    for (const k of '4711*#90') segs.push({ digit: k, ms: 40 }, { silence: 40 });
    expect(detect(signal(segs))).toBe('4711*#90');
  });

  it('accepts ±1.5 % frequency offsets and rejects ±3.5 %', () => {
    for (const k of '1590D*') {
      for (const f of [0.985, 1.015]) {
        expect(detect(signal([pause, { digit: k, ms: 60, lowScale: f }, pause])), `${k} low ${f}`).toBe(k);
        expect(detect(signal([pause, { digit: k, ms: 60, highScale: f }, pause])), `${k} high ${f}`).toBe(k);
      }
      for (const f of [0.965, 1.035, 0.95, 1.06]) {
        expect(detect(signal([pause, { digit: k, ms: 60, lowScale: f }, pause])), `${k} low ${f}`).toBe('');
        expect(detect(signal([pause, { digit: k, ms: 60, highScale: f }, pause])), `${k} high ${f}`).toBe('');
      }
    }
  });

  it('accepts 8 dB normal and 4 dB reverse twist, rejects more', () => {
    expect(detect(signal([pause, { digit: '5', ms: 60, highDb: -7.5 }, pause]))).toBe('5');
    expect(detect(signal([pause, { digit: '5', ms: 60, lowDb: -3.5 }, pause]))).toBe('5');
    expect(detect(signal([pause, { digit: '5', ms: 60, highDb: -11 }, pause]))).toBe('');
    expect(detect(signal([pause, { digit: '5', ms: 60, lowDb: -7 }, pause]))).toBe('');
  });

  it('ignores tones shorter than ~25 ms and counts a press with a short break once', () => {
    for (const k of '7*D') expect(detect(signal([pause, { digit: k, ms: 22 }, pause])), k).toBe('');
    expect(detect(signal([pause, { digit: '7', ms: 60 }, { silence: 10 }, { digit: '7', ms: 60 }, pause]))).toBe('7');
    expect(detect(signal([pause, { digit: '7', ms: 60 }, { silence: 40 }, { digit: '7', ms: 60 }, pause]))).toBe('77');
  });

  it('ignores weak tones, and detects tones in noise at 15 dB SNR but not in noise alone', () => {
    expect(detect(signal([pause, { digit: '3', ms: 60, lowDb: -35, highDb: -35 }, pause]))).toBe('');
    // Uniform noise of peak P has power P²/3; two tones of AMP have AMP²; 15 dB below that:
    const peak = Math.round(Math.sqrt((3 * AMP * AMP) / 10 ** 1.5));
    expect(detect(signal([pause, { digit: '3', ms: 60 }, pause, { digit: '8', ms: 60 }, pause]), peak)).toBe('38');
    expect(detect(signal([{ silence: 2000 }]), 20_000)).toBe('');
  });

  it('detects 40 ms tones off by 1.5 % with 6 dB twist in noise at 15 dB SNR', () => {
    const segs: Seg[] = [pause];
    for (const k of '159D') segs.push({ digit: k, ms: 40, lowScale: 1.015, highScale: 0.985, highDb: -6 }, { silence: 40 });
    const peak = Math.round(Math.sqrt((3 * AMP * AMP) / 10 ** 1.5));
    expect(detect(signal(segs), peak)).toBe('159D');
  });

  it('hears keys pressed while the caller talks (speech ≈ 14 dB under the tones), on PCMU and PCMA', () => {
    const speech = parseWav(readFileSync('prompts/en-US/ivr/requests-payment-of.wav'), 'speech');
    const keyed = signal([{ silence: 150 }, ...[...'482916#'].flatMap((k): Seg[] => [{ digit: k, ms: 100 }, { silence: 150 }])]);
    // The speech clip's RMS is ≈ 2 800 against the tone pair's 7 200: at −6 dB it sits ≈ 14 dB under the keys.
    const mixed = Int16Array.from(keyed, (v, i) => Math.max(-32768, Math.min(32767, v + Math.round(speech[i % speech.length]! * (v === 0 ? 1 : 0.5)))));
    for (const codec of ['PCMU', 'PCMA'] as const) {
      const d = new InbandDtmfDetector();
      const line = decode(codec, encode(codec, mixed));
      let out = '';
      for (let i = 0; i + 160 <= line.length; i += 160) out += d.push(line.subarray(i, i + 160)).join('');
      expect(out, codec).toBe('482916#');
    }
  });

  it('hears no digit in the shipped prompts (talk-off)', () => {
    const dirs = ['ivr', 'digits', 'currency'].map((d) => join('prompts/en-US', d));
    let clips = 0;
    let hopsLikeTones = 0;
    for (const dir of dirs) {
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.wav'))) {
        const samples = parseWav(readFileSync(join(dir, f)), f);
        expect(detect(samples), `${dir}/${f}`).toBe('');
        // Not one 5 ms hop of speech looks like a tone pair, louder or softer: the margin, not luck.
        for (const gain of [0.3, 3]) {
          const d = new InbandDtmfDetector({ trace: (t) => t.digit && hopsLikeTones++ });
          const line = decode('PCMU', encode('PCMU', samples.map((v) => Math.max(-32768, Math.min(32767, v * gain)))));
          for (let i = 0; i < line.length; i += 160) d.push(line.subarray(i, i + 160));
        }
        clips++;
      }
    }
    expect(clips).toBeGreaterThan(10);
    expect(hopsLikeTones).toBe(0);
  });

  it('is on by default only when no telephone-event was negotiated', () => {
    expect(inbandDtmfEnabled('auto', null)).toBe(true);
    expect(inbandDtmfEnabled('auto', 101)).toBe(false);
    expect(inbandDtmfEnabled('always', 101)).toBe(true);
    expect(inbandDtmfEnabled('never', null)).toBe(false);
  });
});

describe('digit merger', () => {
  it('counts one press reported by both sources once, and two presses twice', () => {
    const m = new DigitMerger();
    const got: string[] = [];
    const feed = (d: '1' | '2', s: 'rfc4733' | 'inband', t: number) => m.accept(d, s, t) && got.push(d);
    feed('1', 'rfc4733', 0);
    feed('1', 'inband', 40);
    feed('1', 'rfc4733', 300);
    feed('1', 'inband', 340);
    feed('2', 'inband', 700);
    feed('2', 'rfc4733', 720);
    feed('2', 'rfc4733', 2000);
    expect(got.join('')).toBe('1122');
  });
});
