import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isLocale, type Locale } from '../domain/locale.js';
import { PROMPT_WAV_FORMAT, promptFormatFault, readWavLayout, type WavFormat } from '../telephony/media/wav.js';
import { PHRASES, requiredClips, speechOf } from './say/index.js';

export type { WavFormat } from '../telephony/media/wav.js';

/** The prompt sets shipped with callpay (prompts/<locale>/manifest.json); same path from src/ and dist/. */
export const SHIPPED_PROMPTS_DIR = fileURLToPath(new URL('../../prompts/', import.meta.url));

export const PROMPT_ERROR_CODES = [
  /** manifest.json missing or not JSON. */
  'manifest_unreadable',
  /** manifest.json is JSON but not a manifest (wrong locale, entry without a file...). */
  'manifest_invalid',
  /** A clip callpay needs has no manifest entry. */
  'clip_missing',
  /** A manifest entry's file does not exist or cannot be read. */
  'file_missing',
  /** A manifest entry's file is not an 8 kHz mono 16-bit PCM WAV. */
  'file_invalid',
  /** PromptSet.clip() asked for a name the set does not have (a programming error). */
  'unknown_clip',
] as const;
export type PromptErrorCode = (typeof PROMPT_ERROR_CODES)[number];

/** A prompt set that cannot be used; names the clip and file at fault so an operator can fix it. */
export class PromptError extends Error {
  readonly code: PromptErrorCode;
  readonly clip: string | undefined;
  readonly file: string | undefined;

  constructor(code: PromptErrorCode, message: string, where: { clip?: string; file?: string } = {}) {
    super(message);
    this.name = 'PromptError';
    this.code = code;
    this.clip = where.clip;
    this.file = where.file;
  }
}

export interface PromptSet {
  readonly locale: Locale;
  /** The locale's directory (absolute). */
  readonly dir: string;
  /** Absolute path of a clip's WAV; throws PromptError `unknown_clip` for a name not in the set. */
  clip(name: string): string;
  has(name: string): boolean;
  /** Absolute paths of clips, in order (e.g. sayAmount's result). */
  paths(names: readonly string[]): string[];
  /** What a clip says, from the manifest. */
  text(name: string): string | undefined;
  names(): string[];
}

export interface ManifestEntry {
  /** Relative to the locale's directory, or absolute. */
  file: string;
  text?: string;
  /** What the synthesizer was given, when it differs from text. */
  say?: string;
  /** "espeak-ng" for generated clips; anything else marks an operator's recording or an imported sound set. */
  source?: string;
  /** Imported clips: the sound set's file it was made from (`callpay prompts import`). */
  sourceFile?: string;
  /** Imported packs: a clip the sound set lacks, kept from the generator or an operator's recording. */
  kept?: 'generator' | 'recording';
}

export interface LoadPromptSetOptions {
  /** Clips that must be present; default: every clip of sayAmount and the call script. */
  required?: readonly string[];
}

/**
 * Reads `<promptsDir>/<locale>/manifest.json`, checks that every required clip has an entry and that
 * every entry's file exists and is an 8 kHz mono 16-bit PCM WAV (the one format the media path
 * plays), and returns the set. Meant for start-up: any fault is a PromptError naming clip and file.
 */
export async function loadPromptSet(
  promptsDir: string,
  locale: Locale,
  opts: LoadPromptSetOptions = {},
): Promise<PromptSet> {
  if (!isLocale(locale)) throw new PromptError('manifest_invalid', `no prompt set for locale ${String(locale)}`);
  const dir = resolve(promptsDir, locale);
  const manifestFile = join(dir, 'manifest.json');
  const entries = parseManifest(await readManifest(manifestFile), manifestFile, locale);

  for (const name of opts.required ?? requiredClips(locale)) {
    if (!entries.has(name)) {
      throw new PromptError('clip_missing', `${manifestFile}: no entry for clip "${name}"`, { clip: name, file: manifestFile });
    }
  }

  const files = new Map<string, string>();
  const faults: PromptError[] = [];
  await Promise.all(
    [...entries].map(async ([name, entry]) => {
      const file = isAbsolute(entry.file) ? entry.file : resolve(dir, entry.file);
      const problem = await checkPromptWav(file);
      if (problem) {
        const code = problem.missing ? 'file_missing' : 'file_invalid';
        faults.push(new PromptError(code, `prompt clip "${name}" (${locale}): ${file}: ${problem.reason}`, { clip: name, file }));
      }
      files.set(name, file);
    }),
  );
  if (faults.length > 0) {
    // The first in name order carries code and fields; the message lists every fault for the operator.
    faults.sort((a, b) => (a.clip! < b.clip! ? -1 : 1));
    const first = faults[0]!;
    if (faults.length === 1) throw first;
    const rest = faults.slice(1).map((f) => `; ${f.message}`).join('');
    throw new PromptError(first.code, `${first.message}${rest}`, { clip: first.clip!, file: first.file! });
  }

  const clip = (name: string): string => {
    const file = files.get(name);
    if (file === undefined) {
      throw new PromptError('unknown_clip', `no clip "${name}" in the ${locale} prompt set (${manifestFile})`, { clip: name });
    }
    return file;
  };
  return {
    locale,
    dir,
    clip,
    has: (name) => files.has(name),
    paths: (names) => names.map(clip),
    text: (name) => entries.get(name)?.text,
    names: () => [...files.keys()].sort(),
  };
}

/** A locale's manifest entries by clip name, and the directory their relative files are under. */
export async function readPromptManifest(promptsDir: string, locale: Locale): Promise<{ dir: string; manifestFile: string; entries: Map<string, ManifestEntry> }> {
  const dir = resolve(promptsDir, locale);
  const manifestFile = join(dir, 'manifest.json');
  return { dir, manifestFile, entries: parseManifest(await readManifest(manifestFile), manifestFile, locale) };
}

/** Where a manifest entry's WAV is. */
export const entryPath = (dir: string, entry: ManifestEntry): string => (isAbsolute(entry.file) ? entry.file : resolve(dir, entry.file));

async function readManifest(file: string): Promise<unknown> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? 'read error';
    throw new PromptError('manifest_unreadable', `${file}: cannot read the prompt manifest (${reason})`, { file });
  }
  try {
    return JSON.parse(raw) as unknown;
  } catch (e) {
    throw new PromptError('manifest_unreadable', `${file}: not JSON (${(e as Error).message})`, { file });
  }
}

function parseManifest(json: unknown, file: string, locale: Locale): Map<string, ManifestEntry> {
  const bad = (what: string, clip?: string) =>
    new PromptError('manifest_invalid', `${file}: ${what}`, clip === undefined ? { file } : { clip, file });
  if (!isObject(json) || !isObject(json.clips)) throw bad('expected { "locale": ..., "clips": { name: { "file": ... } } }');
  if (json.locale !== undefined && json.locale !== locale) throw bad(`manifest is for locale ${String(json.locale)}, not ${locale}`);
  const entries = new Map<string, ManifestEntry>();
  for (const [name, entry] of Object.entries(json.clips)) {
    if (!isObject(entry) || typeof entry.file !== 'string' || entry.file === '') {
      throw bad(`clip "${name}": expected { "file": "<path>.wav", "text": "..." }`, name);
    }
    if (entry.text !== undefined && typeof entry.text !== 'string') throw bad(`clip "${name}": "text" must be a string`, name);
    entries.set(name, entry as unknown as ManifestEntry);
  }
  return entries;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads a WAV file's format with the media path's own parser (telephony/media/wav.ts), so that a clip
 * passing the start-up check is one the player accepts. Throws PromptError `file_missing` /
 * `file_invalid`.
 */
export async function readWavFormat(file: string): Promise<WavFormat> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? 'read error';
    throw new PromptError('file_missing', `${file}: cannot open (${reason})`, { file });
  }
  const { audioFormat, channels, sampleRate, bitsPerSample, dataBytes } = readWavLayout(
    bytes,
    (what) => new PromptError('file_invalid', `${file}: ${what}`, { file }),
  );
  return { audioFormat, channels, sampleRate, bitsPerSample, dataBytes };
}

/** What is wrong with `file` as a prompt clip, or null when it is an 8 kHz mono 16-bit PCM WAV with audio. */
export async function checkPromptWav(file: string): Promise<{ missing: boolean; reason: string } | null> {
  let f: WavFormat;
  try {
    f = await readWavFormat(file);
  } catch (e) {
    if (!(e instanceof PromptError)) throw e;
    return { missing: e.code === 'file_missing', reason: e.message.slice(file.length + 2) };
  }
  const fault = promptFormatFault(f);
  if (fault) return { missing: false, reason: `${fault}; expected ${PROMPT_WAV_FORMAT}` };
  if (f.dataBytes < 2) return { missing: false, reason: 'no audio (empty "data" chunk)' };
  return null;
}

/**
 * The clip that names a merchant: its own spoken-name recording when it has one, else the generic
 * "a merchant" clip (`generic: true`: the caller warns the operator once, not per call).
 */
export function merchantClip(set: PromptSet, voiceFile: string | null | undefined): { path: string; generic: boolean } {
  if (voiceFile) return { path: voiceFile, generic: false };
  return { path: set.clip(PHRASES.aMerchant), generic: true };
}

/** As scripts/make-prompts.mjs: trim silence, -3 dBFS, 8 kHz, a 40 ms tail; no dither. */
const SOX_EFFECTS = ['silence', '1', '0.01', '0.5%', 'reverse', 'silence', '1', '0.01', '0.5%', 'reverse',
  'gain', '-n', '-3', 'rate', '8000', 'pad', '0', '0.04'];
const MAX_NAME_CHARS = 200;

export interface SynthesizeOptions {
  /** Per tool run; default 15 s. */
  timeoutMs?: number;
  espeakBin?: string;
  soxBin?: string;
}

/**
 * Speaks a merchant's name into `outPath` (8 kHz mono 16-bit PCM WAV) with espeak-ng and sox, for
 * enrolment (never at call time). Resolves to the absolute path, or null when espeak-ng or sox is not
 * installed: the caller then uses the generic clip and tells the operator. Tools run through execFile
 * (no shell) with a timeout; the file appears whole or not at all. Other failures reject.
 */
export async function synthesizeMerchantName(
  text: string,
  locale: Locale,
  outPath: string,
  opts: SynthesizeOptions = {},
): Promise<string | null> {
  const name = text.trim();
  if (name === '' || name.length > MAX_NAME_CHARS) {
    throw new RangeError(`merchant spoken name must be 1..${MAX_NAME_CHARS} characters`);
  }
  const timeout = opts.timeoutMs ?? 15_000;
  const tmp = await mkdtemp(join(tmpdir(), 'callpay-voice-'));
  try {
    const raw = join(tmp, 'raw.wav');
    // The name goes through a file, not argv: a name starting with "-" must not read as an option.
    const textFile = join(tmp, 'name.txt');
    await writeFile(textFile, name, 'utf8');
    const espeakArgs = ['-v', speechOf(locale).espeakVoice, '-s', '150', '-f', textFile, '-w', raw];
    if (!(await run(opts.espeakBin ?? 'espeak-ng', espeakArgs, timeout))) return null;
    const converted = join(tmp, 'clip.wav');
    const soxArgs = ['-D', raw, '-r', '8000', '-c', '1', '-b', '16', '-e', 'signed-integer', converted, ...SOX_EFFECTS];
    if (!(await run(opts.soxBin ?? 'sox', soxArgs, timeout))) return null;
    const problem = await checkPromptWav(converted);
    if (problem) throw new Error(`synthesized merchant name is not a usable clip: ${problem.reason}`);
    // Staged beside the target, then renamed: the clip appears whole or not at all.
    const target = resolve(outPath);
    const staged = join(dirname(target), `.${process.pid}-${Date.now()}.voice.tmp`);
    try {
      await writeFile(staged, await readFile(converted));
      await rename(staged, target);
    } catch (e) {
      await rm(staged, { force: true });
      throw e;
    }
    return target;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Runs a tool; false when it is not installed, rejects when it fails or times out. */
function run(bin: string, args: string[], timeoutMs: number): Promise<boolean> {
  return new Promise((resolvePromise, reject) => {
    execFile(bin, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, _stdout, stderr) => {
      if (!err) return resolvePromise(true);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return resolvePromise(false);
      const why = err.killed ? `timed out after ${timeoutMs} ms` : `failed: ${String(stderr).trim() || err.message}`;
      reject(new Error(`${bin} ${why}`));
    });
  });
}
