import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { CallpayError } from '../../domain/errors.js';
import type { Locale } from '../../domain/locale.js';
import { requiredClips } from '../say/index.js';

/**
 * The sound sets carriers already run, and how their files map to callpay's clip names. Data, not
 * code: a new language of a set is a row in ASTERISK below; FreeSWITCH's tree already uses callpay's
 * names (mod_say's digits/… and currency/…), so it needs only its directory.
 */

export interface SoundSet {
  kind: 'asterisk' | 'freeswitch';
  /** Its root directory (absolute). */
  dir: string;
  /** Recorded in the manifest: "Asterisk core sounds, en_US_f_Allison". */
  name: string;
  /** SPDX-style licence id, as its copyright file states. */
  licence: string;
  /** The copyright holder line, when the set's copyright file names one. */
  copyright: string | null;
  /** Where the licence was read, for the operator to keep with the pack. */
  licenceFile: string | null;
}

export interface ClipSource {
  clip: string;
  /** Absolute path of the set's file. */
  file: string;
}

interface AsteriskLanguage {
  /** Debian's package (asterisk-core-sounds-<lang>-wav): its copyright file names the licence. */
  package: string;
  /** Directories the package installs to, first found wins. */
  dirs: string[];
  /** callpay clip → candidate files under the set's root, first found wins. */
  map: Record<string, string[]>;
}

const range = (from: number, to: number, step = 1): number[] => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);

/** Number words of a set, by callpay's FreeSWITCH-style names (digits/N.wav in both trees). */
const digitFiles = (ns: number[], words: string[]): Record<string, string[]> =>
  Object.fromEntries([...ns.map((n) => [`digits/${n}`, [`digits/${n}.wav`]]), ...words.map((w) => [`digits/${w}`, [`digits/${w}.wav`]])]);

const ASTERISK: Partial<Record<Locale, AsteriskLanguage>> = {
  'en-US': {
    package: 'asterisk-core-sounds-en-wav',
    dirs: ['/usr/share/asterisk/sounds/en_US_f_Allison', '/usr/share/asterisk/sounds/en', '/var/lib/asterisk/sounds/en'],
    map: {
      ...digitFiles([...range(0, 19), ...range(20, 90, 10)], ['hundred', 'thousand', 'million', 'billion', 'trillion']),
      'currency/dollars': ['digits/dollars.wav'],
      'currency/dollar': ['digits/dollar.wav'],
      'currency/cents': ['digits/cents.wav', 'cents.wav'],
      'currency/cent': ['digits/cent.wav', 'cent.wav'],
      // Allison's "pound" is the pound key's word; the same word names the currency.
      'currency/pound': ['digits/pound.wav'],
      'currency/and': ['vm-and.wav'],
      'ivr/goodbye': ['goodbye.wav', 'vm-goodbye.wav'],
    },
  },
};

/** Locales the asterisk sound sets can fill. */
export const ASTERISK_LOCALES = Object.keys(ASTERISK) as Locale[];

/** Parses --from: "asterisk", "asterisk:/dir", "freeswitch:/dir". */
export function parseFrom(from: string, cwd: string): { kind: 'asterisk' | 'freeswitch'; dir: string | null } {
  const m = /^(asterisk|freeswitch)(?::(.+))?$/.exec(from.trim());
  if (!m) throw new CallpayError('sound_set_unknown', `--from ${from}: expected asterisk, asterisk:DIR or freeswitch:DIR`);
  const kind = m[1] as 'asterisk' | 'freeswitch';
  if (kind === 'freeswitch' && !m[2]) throw new CallpayError('sound_set_unknown', '--from freeswitch needs the voice directory: freeswitch:/usr/share/freeswitch/sounds/en/us/callie');
  return { kind, dir: m[2] ? resolve(cwd, m[2]) : null };
}

/** The set's directory, name and licence, and which of its files stand for which clip. */
export function resolveSoundSet(from: { kind: 'asterisk' | 'freeswitch'; dir: string | null }, locale: Locale, opts: { licence?: string } = {}): { set: SoundSet; sources: ClipSource[] } {
  return from.kind === 'asterisk' ? asteriskSet(from.dir, locale, opts.licence) : freeswitchSet(from.dir!, locale, opts.licence);
}

function asteriskSet(dir: string | null, locale: Locale, licenceOverride: string | undefined): { set: SoundSet; sources: ClipSource[] } {
  const lang = ASTERISK[locale];
  if (!lang) throw new CallpayError('sound_set_empty', `no asterisk sound-set mapping for ${locale} (asterisk sets: ${ASTERISK_LOCALES.join(', ')})`);
  const root = dir ?? lang.dirs.find((d) => isDir(d));
  if (!root || !isDir(root)) {
    const where = root ?? lang.dirs.join(' or ');
    throw new CallpayError('sound_set_missing', `asterisk sound set for ${locale} not found at ${where} (apt-get install ${lang.package})`);
  }
  const sources: ClipSource[] = [];
  for (const [clip, candidates] of Object.entries(lang.map)) {
    const found = candidates.map((c) => join(root, c)).find((f) => existsSync(f));
    if (found) sources.push({ clip, file: found });
  }
  // Debian's copyright file for the package's own directory; an upstream tarball's LICENSE-/CREDITS- file otherwise.
  const upstream = readdirSync(root).find((f) => /^(LICENSE|CREDITS)-asterisk-core-/.test(f));
  const copyrightFile = dir === null || !upstream ? `/usr/share/doc/${lang.package}/copyright` : join(root, upstream);
  const declared = readDebianCopyright(copyrightFile);
  const set: SoundSet = {
    kind: 'asterisk',
    dir: root,
    name: `Asterisk core sounds (${basename(root)})`,
    // Asterisk's core sounds (English, Spanish, French) are CC BY-SA 3.0 upstream, whatever the package.
    licence: licenceOverride ?? declared?.licence ?? 'CC-BY-SA-3.0',
    copyright: declared?.copyright ?? null,
    licenceFile: declared || existsSync(copyrightFile) ? copyrightFile : null,
  };
  return { set, sources: nonEmpty(sources, root, locale) };
}

/**
 * FreeSWITCH's layout: <voice dir>/<category>/<rate>/<name>.wav (en/us/callie/digits/8000/5.wav). The
 * 8 kHz file is taken when there is one, else the highest rate (converted on import).
 */
function freeswitchSet(dir: string, locale: Locale, licenceOverride: string | undefined): { set: SoundSet; sources: ClipSource[] } {
  if (!isDir(dir)) throw new CallpayError('sound_set_missing', `FreeSWITCH sound directory ${dir} not found`);
  const sources: ClipSource[] = [];
  const wanted = [...requiredClips(locale).filter((c) => c.startsWith('digits/') || c.startsWith('currency/')), 'ivr/goodbye'];
  for (const clip of wanted) {
    const [category, name] = clip === 'ivr/goodbye' ? ['voicemail', 'vm-goodbye'] : (clip.split('/', 2) as [string, string]);
    const file = ['8000', '16000', '32000', '48000'].map((rate) => join(dir, category, rate, `${name}.wav`)).find((f) => existsSync(f));
    if (file) sources.push({ clip, file });
  }
  const licenceFile = ['LICENSE', 'COPYING', 'COPYRIGHT', 'LICENSE.txt'].map((f) => join(dir, f)).find((f) => existsSync(f)) ?? null;
  const set: SoundSet = {
    kind: 'freeswitch',
    dir,
    name: `FreeSWITCH sounds (${basename(dir)})`,
    // FreeSWITCH's sets carry their licence in the tarball, not in a form callpay can parse: the operator names it.
    licence: licenceOverride ?? 'see the sound set\'s licence',
    copyright: null,
    licenceFile,
  };
  return { set, sources: nonEmpty(sources, dir, locale) };
}

function nonEmpty(sources: ClipSource[], dir: string, locale: Locale): ClipSource[] {
  if (sources.length === 0) throw new CallpayError('sound_set_empty', `${dir}: none of the ${locale} number files callpay maps (digits/0.wav ...) is there`);
  return sources;
}

/** The "Files: *" stanza's License and Copyright of a Debian machine-readable copyright file. */
export function readDebianCopyright(file: string): { licence: string; copyright: string | null } | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const stanza = text.split(/\n\s*\n/).find((s) => /^Files:\s*\*\s*$/m.test(s));
  const licence = stanza && /^License:\s*(\S+)/m.exec(stanza)?.[1];
  if (!licence) return null;
  return { licence, copyright: /^Copyright:\s*(.+)$/m.exec(stanza)?.[1]?.trim() ?? null };
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
