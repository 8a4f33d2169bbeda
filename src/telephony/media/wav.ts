import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { MediaError } from './errors.js';
import { encode, type Codec } from './g711.js';

const EXPECTED = 'expected a RIFF/WAVE file with PCM format 1, 8000 Hz, mono, 16-bit little-endian';

/**
 * Parses a RIFF/WAVE file holding 8 kHz mono 16-bit little-endian PCM (the only format prompts may
 * have: resampling or mixing down at call time is work we refuse to do per call). Other chunks
 * (LIST, fact, cue...) are skipped, odd-sized chunks are followed by their pad byte. Anything else is
 * a MediaError `clip_invalid` naming `name` and what was expected.
 */
export function parseWav(bytes: Uint8Array, name: string): Int16Array {
  const bad = (what: string) => new MediaError('clip_invalid', `${name}: ${what}; ${EXPECTED}`, name);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number) => String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);

  if (bytes.length < 12) throw bad(`only ${bytes.length} bytes`);
  const riff = tag(0);
  if (riff === 'RIFX') throw bad('big-endian RIFX');
  if (riff !== 'RIFF' || tag(8) !== 'WAVE') throw bad('not a RIFF/WAVE file');

  let fmt: { at: number; size: number } | undefined;
  let data: { at: number; size: number } | undefined;
  // The RIFF size is often wrong in files written by streaming tools, so chunks are walked to EOF.
  for (let at = 12; at + 8 <= bytes.length; ) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (body + size > bytes.length) {
      if (id === 'data' || id === 'fmt ' || !fmt || !data) {
        throw bad(`truncated: chunk "${printable(id)}" declares ${size} bytes, ${bytes.length - body} present`);
      }
      break; // a damaged trailing chunk after fmt and data does not matter
    }
    if (id === 'fmt ' && !fmt) fmt = { at: body, size };
    else if (id === 'data' && !data) data = { at: body, size };
    at = body + size + (size & 1);
  }
  if (!fmt) throw bad('no "fmt " chunk');
  if (!data) throw bad('no "data" chunk');
  if (fmt.size < 16) throw bad(`"fmt " chunk of ${fmt.size} bytes`);

  const format = view.getUint16(fmt.at, true);
  const channels = view.getUint16(fmt.at + 2, true);
  const rate = view.getUint32(fmt.at + 4, true);
  const bits = view.getUint16(fmt.at + 14, true);
  if (format !== 1) throw bad(`audio format ${format === 0xfffe ? '0xFFFE (extensible)' : format}`);
  if (channels !== 1) throw bad(`${channels} channels`);
  if (rate !== 8000) throw bad(`${rate} Hz`);
  if (bits !== 16) throw bad(`${bits}-bit samples`);

  const count = Math.floor(data.size / 2); // a stray odd byte at the end is not a sample
  const samples = new Int16Array(count);
  for (let i = 0; i < count; i++) samples[i] = view.getInt16(data.at + 2 * i, true);
  return samples;
}

function printable(id: string): string {
  return id.replace(/[^\x20-\x7e]/g, '?');
}

/**
 * Prompt clips decoded and encoded to G.711 once per (absolute path, codec). The encoded bytes live in
 * a SharedArrayBuffer so that handing a clip to the media worker shares it instead of copying it, and
 * the cached array is never detached. Files are assumed not to change while the daemon runs.
 */
export class ClipCache {
  private readonly clips = new Map<string, Promise<Uint8Array>>();

  loadClip(path: string, codec: Codec): Promise<Uint8Array> {
    const file = resolve(path);
    const key = `${codec}\0${file}`;
    let clip = this.clips.get(key);
    if (!clip) {
      clip = readAndEncode(file, codec);
      this.clips.set(key, clip);
      clip.catch(() => this.clips.delete(key)); // a fixed file can be retried
    }
    return clip;
  }

  get size(): number {
    return this.clips.size;
  }
}

async function readAndEncode(file: string, codec: Codec): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? 'read error';
    throw new MediaError('clip_unreadable', `${file}: cannot read prompt (${reason})`, file);
  }
  const samples = parseWav(bytes, file);
  return encode(codec, samples, new Uint8Array(new SharedArrayBuffer(samples.length)));
}
