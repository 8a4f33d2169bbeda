import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { MediaError } from './errors.js';
import { encode, type Codec } from './g711.js';

/** The one format prompts may have: resampling or mixing down at call time is work we refuse to do per call. */
export const PROMPT_WAV_FORMAT = 'PCM format 1, 8000 Hz, mono, 16-bit little-endian';

export interface WavFormat {
  /** 1 = integer PCM; 0xFFFE = extensible (refused: the player takes plain PCM only). */
  audioFormat: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Size of the data chunk in bytes. */
  dataBytes: number;
}

/** A WAV's format and where its samples start. */
export interface WavLayout extends WavFormat {
  dataOffset: number;
}

/**
 * Walks a RIFF/WAVE file's chunks: the first "fmt " and the first "data", whatever their order; other
 * chunks (LIST, fact, cue...) are skipped, odd-sized chunks are followed by their pad byte. The RIFF
 * size is often wrong in files written by streaming tools, so chunks are walked to EOF; a damaged
 * chunk after both "fmt " and "data" does not matter. Any other fault is `fail(what is wrong)`, which
 * the caller turns into its own error type. Says nothing of whether the format is one we play.
 */
export function readWavLayout(bytes: Uint8Array, fail: (what: string) => Error): WavLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number) => String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);

  if (bytes.length < 12) throw fail(`only ${bytes.length} bytes`);
  const riff = tag(0);
  if (riff === 'RIFX') throw fail('big-endian RIFX');
  if (riff !== 'RIFF' || tag(8) !== 'WAVE') throw fail('not a RIFF/WAVE file');

  let fmt: { at: number; size: number } | undefined;
  let data: { at: number; size: number } | undefined;
  for (let at = 12; at + 8 <= bytes.length; ) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (body + size > bytes.length) {
      if (id === 'data' || id === 'fmt ' || !fmt || !data) {
        throw fail(`truncated: chunk "${printable(id)}" declares ${size} bytes, ${bytes.length - body} present`);
      }
      break;
    }
    if (id === 'fmt ' && !fmt) fmt = { at: body, size };
    else if (id === 'data' && !data) data = { at: body, size };
    at = body + size + (size & 1);
  }
  if (!fmt) throw fail('no "fmt " chunk');
  if (!data) throw fail('no "data" chunk');
  if (fmt.size < 16) throw fail(`"fmt " chunk of ${fmt.size} bytes`);

  return {
    audioFormat: view.getUint16(fmt.at, true),
    channels: view.getUint16(fmt.at + 2, true),
    sampleRate: view.getUint32(fmt.at + 4, true),
    bitsPerSample: view.getUint16(fmt.at + 14, true),
    dataBytes: data.size,
    dataOffset: data.at,
  };
}

/** What keeps `f` from being PROMPT_WAV_FORMAT ("16000 Hz, 2 channels"), or null when it is that. */
export function promptFormatFault(f: WavFormat): string | null {
  const faults: string[] = [];
  if (f.audioFormat !== 1) faults.push(`audio format ${f.audioFormat === 0xfffe ? '0xFFFE (extensible)' : f.audioFormat}`);
  if (f.channels !== 1) faults.push(`${f.channels} channels`);
  if (f.sampleRate !== 8000) faults.push(`${f.sampleRate} Hz`);
  if (f.bitsPerSample !== 16) faults.push(`${f.bitsPerSample}-bit samples`);
  return faults.length > 0 ? faults.join(', ') : null;
}

/**
 * The samples of a WAV file in PROMPT_WAV_FORMAT. Anything else is a MediaError `clip_invalid`
 * naming `name` and what was expected.
 */
export function parseWav(bytes: Uint8Array, name: string): Int16Array {
  const bad = (what: string) => new MediaError('clip_invalid', `${name}: ${what}; expected a RIFF/WAVE file with ${PROMPT_WAV_FORMAT}`, name);
  const wav = readWavLayout(bytes, bad);
  const fault = promptFormatFault(wav);
  if (fault) throw bad(fault);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = Math.floor(wav.dataBytes / 2); // a stray odd byte at the end is not a sample
  const samples = new Int16Array(count);
  for (let i = 0; i < count; i++) samples[i] = view.getInt16(wav.dataOffset + 2 * i, true);
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
