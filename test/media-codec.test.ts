import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaError } from '../src/telephony/media/errors.js';
import {
  alawToLinear,
  decode,
  encode,
  linearToAlaw,
  linearToUlaw,
  ulawToLinear,
} from '../src/telephony/media/g711.js';
import { ClipCache, parseWav } from '../src/telephony/media/wav.js';

/** A canonical WAV file; every field can be overridden to make a bad one. */
function wavBytes(
  samples: Int16Array,
  o: { format?: number; channels?: number; rate?: number; bits?: number; extra?: Uint8Array[]; truncateBy?: number } = {},
): Uint8Array {
  const bits = o.bits ?? 16;
  const channels = o.channels ?? 1;
  const rate = o.rate ?? 8000;
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(o.format ?? 1, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(rate, 4);
  fmt.writeUInt32LE((rate * channels * bits) / 8, 8);
  fmt.writeUInt16LE((channels * bits) / 8, 12);
  fmt.writeUInt16LE(bits, 14);
  const data = Buffer.alloc(samples.length * 2);
  samples.forEach((s, i) => data.writeInt16LE(s, 2 * i));
  const chunk = (id: string, body: Uint8Array) => {
    const head = Buffer.alloc(8);
    head.write(id, 0, 'latin1');
    head.writeUInt32LE(body.length, 4);
    return Buffer.concat([head, body, Buffer.alloc(body.length & 1)]);
  };
  const extras = (o.extra ?? []).map((e) => chunk('LIST', e));
  const body = Buffer.concat([Buffer.from('WAVE'), chunk('fmt ', fmt), ...extras, chunk('data', data)]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  const all = Buffer.concat([head, body]);
  return all.subarray(0, all.length - (o.truncateBy ?? 0));
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MediaError);
    return (e as MediaError).code;
  }
  return 'no error';
}

describe('G.711', () => {
  it('encodes the reference values', () => {
    expect(linearToUlaw(0)).toBe(0xff);
    expect(linearToAlaw(0)).toBe(0xd5);
    expect(linearToUlaw(32767)).toBe(0x80);
    expect(linearToUlaw(-32768)).toBe(0x00);
    expect(linearToAlaw(32767)).toBe(0xaa);
    expect(linearToAlaw(-32768)).toBe(0x2a);
    // ITU-T G.191 uses the one's complement of negative input: -1 is μ-law "negative zero", and
    // -100 (a tie between -96 and -104) goes to -96; Sun's g711.c (and audioop) give 0x7E and 0x72.
    expect(linearToUlaw(-1)).toBe(0x7f);
    expect(linearToUlaw(-100)).toBe(0x73);
    // Cross-checked with CPython's audioop (Sun reference), which agrees on these.
    const vectors: Array<[number, number, number]> = [
      [8, 0xfe, 0xd5],
      [100, 0xf2, 0xd3],
      [1000, 0xce, 0xfa],
      [-1000, 0x4e, 0x7a],
      [4095, 0xaf, 0x9a],
      [8000, 0xa0, 0x8a],
      [-8000, 0x20, 0x0a],
      [12345, 0x97, 0xbd],
      [-12345, 0x17, 0x3d],
    ];
    for (const [x, u, a] of vectors) {
      expect([x, linearToUlaw(x), linearToAlaw(x)]).toEqual([x, u, a]);
    }
  });

  it('decodes the reference values', () => {
    expect([0x00, 0x7f, 0x80, 0xff, 0xce, 0x4e].map(ulawToLinear)).toEqual([-32124, 0, 32124, 0, 988, -988]);
    expect([0xd5, 0x55, 0xaa, 0x2a, 0x80, 0x00].map(alawToLinear)).toEqual([8, -8, 32256, -32256, 5504, -5504]);
  });

  it('round-trips every code word', () => {
    for (let c = 0; c < 256; c++) {
      expect(linearToAlaw(alawToLinear(c))).toBe(c);
      // μ-law has two zeros; negative zero (0x7F) decodes to 0, which encodes as 0xFF.
      expect(linearToUlaw(ulawToLinear(c))).toBe(c === 0x7f ? 0xff : c);
    }
  });

  it('quantizes monotonically and within half a step across the whole 16-bit range', () => {
    for (const [enc, dec] of [
      [linearToUlaw, ulawToLinear],
      [linearToAlaw, alawToLinear],
    ] as const) {
      let prev = -Infinity;
      let nonMonotonic = 0;
      let tooFar = 0;
      for (let x = -32768; x <= 32767; x++) {
        const y = dec(enc(x));
        if (y < prev) nonMonotonic++;
        prev = y;
        // Steps grow from 2 (A-law) / 8 (μ-law) to 1024 per segment: the error stays within half a
        // step, about 1/32 of the magnitude, plus a few units near zero.
        if (Math.abs(x) < 32000 && Math.abs(y - x) > Math.abs(x) / 32 + 8) tooFar++;
      }
      expect({ nonMonotonic, tooFar }).toEqual({ nonMonotonic: 0, tooFar: 0 });
    }
  });

  it('encodes and decodes whole buffers', () => {
    const pcm = Int16Array.of(0, 1000, -1000, 32767, -32768);
    expect([...encode('PCMU', pcm)]).toEqual([0xff, 0xce, 0x4e, 0x80, 0x00]);
    expect([...decode('PCMA', encode('PCMA', pcm))]).toEqual([8, 1008, -1008, 32256, -32256]);
  });
});

describe('WAV', () => {
  const tone = Int16Array.from({ length: 801 }, (_, i) => Math.round(8000 * Math.sin(i / 5)));

  it('reads 8 kHz mono 16-bit PCM, skipping LIST chunks and their pad byte', () => {
    const bytes = wavBytes(tone, { extra: [Buffer.from('INFOodd'), Buffer.from('INFO')] });
    expect([...parseWav(bytes, 'tone.wav')]).toEqual([...tone]);
  });

  it('refuses other formats, naming the file and what was expected', () => {
    const cases: Array<Parameters<typeof wavBytes>[1]> = [
      { rate: 16000 },
      { channels: 2 },
      { bits: 8 },
      { format: 3 },
      { format: 0xfffe },
      { truncateBy: 10 },
    ];
    for (const o of cases) {
      try {
        parseWav(wavBytes(tone, o), 'prompts/x.wav');
        expect.unreachable(JSON.stringify(o));
      } catch (e) {
        expect(e).toBeInstanceOf(MediaError);
        expect((e as MediaError).code).toBe('clip_invalid');
        expect((e as MediaError).file).toBe('prompts/x.wav');
        expect((e as MediaError).message).toContain('prompts/x.wav');
      }
    }
    expect(codeOf(() => parseWav(Buffer.from('RIFF'), 'a.wav'))).toBe('clip_invalid');
    expect(codeOf(() => parseWav(Buffer.from('RIFF\0\0\0\0WAVEjunk'), 'a.wav'))).toBe('clip_invalid');
    expect(codeOf(() => parseWav(new Uint8Array(64), 'a.wav'))).toBe('clip_invalid');
  });

  describe('clip cache', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'callpay-media-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('encodes once per (path, codec) and shares the bytes', async () => {
      const path = join(dir, 'hello.wav');
      await writeFile(path, wavBytes(tone));
      const cache = new ClipCache();
      const [a, b] = await Promise.all([cache.loadClip(path, 'PCMU'), cache.loadClip(path, 'PCMU')]);
      expect(a).toBe(b);
      expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect([...a]).toEqual([...encode('PCMU', tone)]);
      const alaw = await cache.loadClip(path, 'PCMA');
      expect([...alaw]).toEqual([...encode('PCMA', tone)]);
      expect(cache.size).toBe(2);
      await writeFile(path, wavBytes(Int16Array.of(1, 2, 3)));
      expect(await cache.loadClip(path, 'PCMU')).toBe(a); // files do not change under a running daemon
    });

    it('reports unreadable and invalid files as MediaError', async () => {
      const cache = new ClipCache();
      await expect(cache.loadClip(join(dir, 'missing.wav'), 'PCMU')).rejects.toMatchObject({ code: 'clip_unreadable' });
      const bad = join(dir, 'wide.wav');
      await writeFile(bad, wavBytes(tone, { rate: 16000 }));
      await expect(cache.loadClip(bad, 'PCMA')).rejects.toMatchObject({ code: 'clip_invalid', file: bad });
      await writeFile(bad, wavBytes(tone)); // fixed: a failed load is not cached
      expect((await cache.loadClip(bad, 'PCMA')).length).toBe(tone.length);
    });
  });
});
