import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Locale } from '../domain/locale.js';
import { PROMPT_WAV_FORMAT, promptFormatFault, readWavLayout } from '../telephony/media/wav.js';
import { levelFault, measureClip, medianLevel, type ClipLevel } from './audio-level.js';
import { entryPath, PromptError, readPromptManifest, type ManifestEntry } from './prompts.js';
import { requiredClips } from './say/index.js';

/**
 * `callpay prompts check` and the prompt lines of `callpay doctor`: beyond what start-up checks
 * (every clip present, 8 kHz mono 16-bit), that no clip is silent or clipped and that the pack's
 * clips are within a few dB of one another (audio-level.ts), with each clip's provenance counted.
 */
export const PACK_ISSUE_CODES = [
  'manifest_unreadable', 'manifest_invalid', 'clip_missing', 'file_missing', 'file_invalid', 'silent', 'clipped', 'loudness',
] as const;
export type PackIssueCode = (typeof PACK_ISSUE_CODES)[number];

export interface PackIssue {
  code: PackIssueCode;
  clip?: string;
  file?: string;
  detail: string;
}

export interface PackReport {
  locale: Locale;
  dir: string;
  /** Clips in the manifest. */
  clips: number;
  /** The pack's median active level (dBFS), null when no clip could be measured. */
  medianDb: number | null;
  /** Clips per provenance: "espeak-ng", an imported set's id, "recorded"... */
  sources: Record<string, number>;
  issues: PackIssue[];
}

export interface CheckPackOptions {
  /** Clips a call can need; default: requiredClips(locale). */
  required?: readonly string[];
}

export async function checkPromptPack(promptsDir: string, locale: Locale, opts: CheckPackOptions = {}): Promise<PackReport> {
  const report: PackReport = { locale, dir: resolve(promptsDir, locale), clips: 0, medianDb: null, sources: {}, issues: [] };
  let entries: Map<string, ManifestEntry>;
  try {
    const m = await readPromptManifest(promptsDir, locale);
    report.dir = m.dir;
    entries = m.entries;
  } catch (e) {
    if (!(e instanceof PromptError)) throw e;
    report.issues.push({ code: e.code === 'manifest_invalid' ? 'manifest_invalid' : 'manifest_unreadable', ...(e.file ? { file: e.file } : {}), detail: e.message });
    return report;
  }
  report.clips = entries.size;
  for (const name of opts.required ?? requiredClips(locale)) {
    if (!entries.has(name)) report.issues.push({ code: 'clip_missing', clip: name, detail: `no manifest entry for clip "${name}"` });
  }

  const levels = new Map<string, { file: string; level: ClipLevel }>();
  for (const [name, entry] of [...entries].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const source = entry.source ?? 'unspecified';
    report.sources[source] = (report.sources[source] ?? 0) + 1;
    const file = entryPath(report.dir, entry);
    const measured = await measureFile(file);
    if ('code' in measured) report.issues.push({ ...measured, clip: name, file });
    else levels.set(name, { file, level: measured });
  }
  report.medianDb = medianLevel([...levels.values()].map((l) => l.level.activeDb));
  for (const [name, { file, level }] of levels) {
    const fault = levelFault(level, report.medianDb);
    if (fault) report.issues.push({ code: fault.kind, clip: name, file, detail: fault.detail });
  }
  return report;
}

async function measureFile(file: string): Promise<ClipLevel | { code: 'file_missing' | 'file_invalid'; detail: string }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    return { code: 'file_missing', detail: `cannot open (${(e as NodeJS.ErrnoException).code ?? 'read error'})` };
  }
  try {
    const layout = readWavLayout(bytes, (what) => new Error(what));
    const fault = promptFormatFault(layout);
    if (fault) return { code: 'file_invalid', detail: `${fault}; expected ${PROMPT_WAV_FORMAT}` };
    const count = Math.floor(Math.min(layout.dataBytes, bytes.length - layout.dataOffset) / 2);
    const samples = new Int16Array(count);
    for (let i = 0; i < count; i++) samples[i] = bytes.readInt16LE(layout.dataOffset + 2 * i);
    return measureClip(samples);
  } catch (e) {
    return { code: 'file_invalid', detail: (e as Error).message };
  }
}

/** One line per report for a person: "en-US: 61 clips (asterisk 33, espeak-ng 28), median -18.0 dBFS". */
export function describePack(r: PackReport): string {
  const sources = Object.entries(r.sources).map(([s, n]) => `${s} ${n}`).join(', ');
  const median = r.medianDb === null ? 'no level' : `median active level ${r.medianDb.toFixed(1)} dBFS`;
  return `${r.clips} clips${sources ? ` (${sources})` : ''}, ${median}, in ${r.dir}`;
}

/** An issue as one line: "digits/5: silent: ... [silent]". */
export function describeIssue(i: PackIssue): string {
  const where = i.clip ? `${i.clip}${i.file ? ` (${i.file})` : ''}` : (i.file ?? '');
  return `${where ? `${where}: ` : ''}${i.detail} [${i.code}]`;
}
