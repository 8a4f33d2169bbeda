import { readFileSync } from 'node:fs';
import { CallpayError } from '../domain/errors.js';

/**
 * A password given either inline (config, or its CALLPAY_* variable) or as the first line of a file
 * (e.g. a systemd credential). null when neither is set. A file that cannot be read, or an empty
 * one, is an error naming the setting, never a silent fallback.
 */
export function optionalSecretSetting(inline: string | null, file: string | null, key: string): string | null {
  if (inline !== null) return inline;
  if (file === null) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CallpayError('config_invalid', `${key}File: cannot read the file (${(e as NodeJS.ErrnoException).code})`, `${key}File`);
  }
  const secret = text.split(/\r?\n/, 1)[0] ?? '';
  if (secret === '') throw new CallpayError('config_invalid', `${key}File: the file is empty`, `${key}File`);
  return secret;
}
