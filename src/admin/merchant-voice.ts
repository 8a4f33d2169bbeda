import { copyFile, mkdir, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { invalidField } from '../domain/errors.js';
import type { Locale } from '../domain/consumer.js';
import { checkPromptWav, synthesizeMerchantName } from '../ivr/prompts.js';

/** Refuses a recording that is not an 8 kHz mono 16-bit PCM WAV (checked before anything is written). */
export async function checkRecording(file: string): Promise<void> {
  const problem = await checkPromptWav(file);
  if (problem) throw invalidField('voice', problem.missing ? 'file not found' : problem.reason);
}

/** Where merchants' name clips live: a `voices/` directory beside the database. */
export function voicesDir(databasePath: string): string {
  return join(dirname(databasePath), 'voices');
}

export type VoiceResult = { path: string; source: 'recording' | 'espeak-ng' } | { path: null; source: 'none' };

/**
 * Gives a merchant its spoken-name clip, once, at enrolment (never at call time): the operator's
 * recording (8 kHz mono 16-bit WAV, checked) when given, else espeak-ng when installed, else none
 * (calls then say "a merchant" and the operator is warned).
 */
export async function provideMerchantVoice(opts: {
  merchantId: string;
  spokenName: string;
  recording: string | undefined;
  locale: Locale;
  databasePath: string;
}): Promise<VoiceResult> {
  const dir = voicesDir(opts.databasePath);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const target = join(dir, `${opts.merchantId}.wav`);
  if (opts.recording !== undefined) {
    await checkRecording(opts.recording);
    const tmp = `${target}.tmp`;
    await copyFile(opts.recording, tmp);
    await rename(tmp, target);
    return { path: target, source: 'recording' };
  }
  const made = await synthesizeMerchantName(opts.spokenName, opts.locale, target);
  return made ? { path: made, source: 'espeak-ng' } : { path: null, source: 'none' };
}
