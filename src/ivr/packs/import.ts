import { execFile } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CallpayError, isCallpayError } from '../../domain/errors.js';
import { LOCALES, type Locale } from '../../domain/locale.js';
import { promptFormatFault, readWavLayout } from '../../telephony/media/wav.js';
import { measureClip, medianLevel } from '../audio-level.js';
import { checkPromptPack, describeIssue } from '../prompt-check.js';
import { entryPath, PromptError, readPromptManifest, type ManifestEntry } from '../prompts.js';
import { resolveSoundSet, type ClipSource, type SoundSet } from './sound-sets.js';

/**
 * `callpay prompts import`: builds `<outRoot>/<locale>/` from an installed sound set. The set's files
 * replace generated clips of the same name; every other clip (callpay's own sentences, words the set
 * lacks, an operator's recordings) is kept from the pack already there, or from the shipped one, and
 * the manifest says which. The recordings stay on the appliance: callpay's repository holds none.
 *
 * A file already in the call format whose set is as loud as the kept clips is copied byte for byte;
 * otherwise sox converts it (8 kHz mono 16-bit, no dither) and one gain is applied to the whole set,
 * keeping the recording's own dynamics between words. The pack is built in a staging directory
 * beside the target, checked with `prompts check`'s rules, then renamed into place.
 */

/** A set whose median level is within this of the kept clips' median is copied unchanged. */
export const LEVEL_MATCH_DB = 3;

export interface ImportOptions {
  locale: Locale;
  from: { kind: 'asterisk' | 'freeswitch'; dir: string | null };
  /** The prompts root (ivr.promptsDir): the pack goes to <outRoot>/<locale>/. */
  outRoot: string;
  /** callpay's own prompts (SHIPPED_PROMPTS_DIR): the base when outRoot has no pack for the locale. */
  shippedDir: string;
  /** Overrides the licence read from the set (FreeSWITCH sets do not state one callpay can read). */
  licence?: string;
  soxBin?: string;
  /** Per sox run; default 15 s. */
  timeoutMs?: number;
}

export interface ImportResult {
  dir: string;
  set: SoundSet;
  imported: Array<{ clip: string; sourceFile: string; converted: boolean }>;
  kept: Array<{ clip: string; kept: 'generator' | 'recording' }>;
  /** Gain applied to every imported clip (dB), 0 when the set already matched. */
  gainDb: number;
  /** Other locales copied from the shipped prompts because outRoot had none (a prompts root needs every locale). */
  seeded: Locale[];
}

interface ManifestFile {
  locale: Locale;
  format: string;
  generator?: string;
  pack?: Record<string, unknown>;
  clips: Record<string, ManifestEntry>;
}

export async function importPromptPack(o: ImportOptions): Promise<ImportResult> {
  const outRoot = resolve(o.outRoot);
  if (outRoot === resolve(o.shippedDir)) {
    throw new CallpayError('prompts_dir_unset', `${outRoot} is callpay's own prompts directory; import into an operator directory (--out or ivr.promptsDir)`);
  }
  const { set, sources } = resolveSoundSet(o.from, o.locale, o.licence === undefined ? {} : { licence: o.licence });
  const base = await readBase(outRoot, o.shippedDir, o.locale);
  await mkdir(outRoot, { recursive: true });
  const stage = await mkdtemp(join(outRoot, `.import-${o.locale}-`));
  try {
    const packDir = join(stage, o.locale);
    await mkdir(packDir, { recursive: true });
    const clips: Record<string, ManifestEntry> = {};
    const kept: ImportResult['kept'] = [];
    const fromSet = new Map(sources.map((s) => [s.clip, s]));

    // Kept clips first: an operator's recording wins over the set (they chose it), a generated clip does not.
    const keptLevels: number[] = [];
    for (const [clip, { entry, dir }] of base) {
      const recording = entry.source !== 'espeak-ng' && entry.sourceFile === undefined;
      if (fromSet.has(clip) && !recording) continue;
      if (recording) fromSet.delete(clip);
      // Clip names become paths inside the pack: a manifest's name must not climb out of it.
      if (clip.split('/').some((part) => part === '' || part === '.' || part === '..')) {
        throw new CallpayError('base_pack_invalid', `${join(dir, 'manifest.json')}: clip name "${clip}" is not a relative path`);
      }
      const file = `${clip}.wav`;
      const from = entryPath(dir, entry);
      try {
        await copyInto(from, join(packDir, file));
        keptLevels.push(await levelOf(join(packDir, file)));
      } catch (e) {
        const why = isCallpayError(e) ? e.message : ((e as NodeJS.ErrnoException).code ?? String(e));
        throw new CallpayError('base_pack_invalid', `clip "${clip}" to keep: ${from}: ${why} (fix it, or run callpay prompts check)`);
      }
      // A clip an earlier import brought keeps its provenance; the rest are marked as kept.
      const how = recording ? 'recording' : entry.sourceFile === undefined ? 'generator' : undefined;
      clips[clip] = { ...entry, file, ...(how ? { kept: how } : {}) };
      if (how) kept.push({ clip, kept: how });
    }

    // The set's files: copied, or converted to the call format, then levelled as one.
    const staged: Array<{ src: ClipSource; file: string; converted: boolean }> = [];
    for (const src of fromSet.values()) {
      const file = join(packDir, `${src.clip}.wav`);
      await mkdir(dirname(file), { recursive: true });
      const converted = !(await inCallFormat(src.file));
      if (converted) await sox(o, [src.file, '-r', '8000', '-c', '1', '-b', '16', '-e', 'signed-integer', file]);
      else await copyFile(src.file, file);
      staged.push({ src, file, converted });
    }
    const setMedian = medianLevel(await Promise.all(staged.map((s) => levelOf(s.file))));
    const keptMedian = medianLevel(keptLevels);
    let gainDb = 0;
    if (setMedian !== null && keptMedian !== null && Math.abs(keptMedian - setMedian) > LEVEL_MATCH_DB) {
      gainDb = Math.round((keptMedian - setMedian) * 10) / 10;
      for (const s of staged) {
        const levelled = `${s.file}.gain.wav`;
        // -l: a limiter instead of clipping where the gain would push a peak past full scale.
        await sox(o, [s.file, levelled, 'gain', '-l', String(gainDb)]);
        await rename(levelled, s.file);
        s.converted = true;
      }
    }
    const imported: ImportResult['imported'] = [];
    for (const s of staged) {
      const prev = base.get(s.src.clip)?.entry;
      clips[s.src.clip] = { file: `${s.src.clip}.wav`, ...(prev?.text ? { text: prev.text } : {}), source: set.kind, sourceFile: s.src.file };
      imported.push({ clip: s.src.clip, sourceFile: s.src.file, converted: s.converted });
    }

    const manifest: ManifestFile = {
      locale: o.locale,
      format: 'WAV, PCM, 8000 Hz, mono, 16-bit',
      pack: {
        set: set.name,
        setDir: set.dir,
        licence: set.licence,
        ...(set.copyright ? { copyright: set.copyright } : {}),
        ...(set.licenceFile ? { licenceFile: set.licenceFile } : {}),
        importedBy: 'callpay prompts import',
        gainDb,
        note: 'clips with "sourceFile" come from the sound set under its licence; clips with "kept" are callpay\'s generated clips or an operator\'s recordings',
      },
      clips: Object.fromEntries(Object.keys(clips).sort().map((k) => [k, clips[k]!])),
    };
    await writeFile(join(packDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);

    const report = await checkPromptPack(stage, o.locale);
    if (report.issues.length > 0) {
      throw new CallpayError('pack_check_failed', `the imported ${o.locale} pack fails the prompt check, nothing installed: ${report.issues.slice(0, 5).map(describeIssue).join('; ')}`);
    }
    const target = join(outRoot, o.locale);
    await swapIn(packDir, target, join(stage, 'previous'));
    const seeded = await seedOtherLocales(outRoot, o.shippedDir, o.locale, stage);
    return { dir: target, set, imported: imported.sort((a, b) => (a.clip < b.clip ? -1 : 1)), kept, gainDb, seeded };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/**
 * The clips to keep, by name: the pack already in outRoot (re-import, operator recordings) first, then
 * the shipped pack's for clips it lacks, so that re-importing after an upgrade brings callpay's new
 * sentences along.
 */
async function readBase(outRoot: string, shippedDir: string, locale: Locale): Promise<Map<string, { entry: ManifestEntry; dir: string }>> {
  const roots = (await exists(join(outRoot, locale, 'manifest.json'))) ? [outRoot, shippedDir] : [shippedDir];
  const base = new Map<string, { entry: ManifestEntry; dir: string }>();
  for (const root of roots) {
    try {
      const { dir, entries } = await readPromptManifest(root, locale);
      for (const [clip, entry] of entries) if (!base.has(clip)) base.set(clip, { entry, dir });
    } catch (e) {
      if (e instanceof PromptError) throw new CallpayError('base_pack_invalid', `cannot start from ${join(root, locale)}: ${e.message}`);
      throw e;
    }
  }
  return base;
}

/** Replaces `target` by `staged`: renames on one filesystem, so a reader sees the old pack or the new one. */
async function swapIn(staged: string, target: string, trash: string): Promise<void> {
  const hadOld = await exists(target);
  if (hadOld) await rename(target, trash);
  try {
    await rename(staged, target);
  } catch (e) {
    if (hadOld) await rename(trash, target);
    throw e;
  }
}

/** A prompts root must hold every locale (start-up loads them all): copy the shipped ones it lacks. */
async function seedOtherLocales(outRoot: string, shippedDir: string, locale: Locale, stage: string): Promise<Locale[]> {
  const seeded: Locale[] = [];
  for (const other of LOCALES) {
    if (other === locale || (await exists(join(outRoot, other)))) continue;
    const tmp = join(stage, `seed-${other}`);
    await cp(join(shippedDir, other), tmp, { recursive: true });
    await rename(tmp, join(outRoot, other));
    seeded.push(other);
  }
  return seeded;
}

async function copyInto(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await copyFile(from, to);
}

async function inCallFormat(file: string): Promise<boolean> {
  try {
    return promptFormatFault(readWavLayout(await readFile(file), (what) => new Error(what))) === null;
  } catch {
    return false; // not a WAV callpay reads: sox may still convert it
  }
}

async function levelOf(file: string): Promise<number> {
  const bytes = await readFile(file);
  const layout = readWavLayout(bytes, (what) => new CallpayError('conversion_failed', `${file}: ${what}`));
  const count = Math.floor(layout.dataBytes / 2);
  const samples = new Int16Array(count);
  for (let i = 0; i < count; i++) samples[i] = bytes.readInt16LE(layout.dataOffset + 2 * i);
  return measureClip(samples).activeDb;
}

function sox(o: ImportOptions, args: string[]): Promise<void> {
  const bin = o.soxBin ?? 'sox';
  const timeout = o.timeoutMs ?? 15_000;
  return new Promise((resolvePromise, reject) => {
    // -D: no dither, so the same source gives the same bytes on every import.
    execFile(bin, ['-D', ...args], { timeout, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, _out, stderr) => {
      if (!err) return resolvePromise();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new CallpayError('tool_missing', `${bin} is needed to convert ${args[0]}: apt-get install sox`));
      const why = err.killed ? `timed out after ${timeout} ms` : String(stderr).trim() || err.message;
      reject(new CallpayError('conversion_failed', `sox on ${args[0]}: ${why}`));
    });
  });
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}
