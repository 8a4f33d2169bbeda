import { readFileSync } from 'node:fs';
import { CallpayError } from '../domain/errors.js';

/**
 * A file of signing secrets for an outgoing hook (risk.hook, selfService.notifyHook): one a line,
 * newest first. A missing, empty or weak file stops start-up with `config_invalid` naming `key`, the
 * setting that points at it, so the operator knows which file to fix.
 */
export function readSecretsFile(file: string, key: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CallpayError('config_invalid', `${key}: cannot read the file (${(e as NodeJS.ErrnoException).code})`, key);
  }
  const secrets = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (secrets.length === 0) throw new CallpayError('config_invalid', `${key}: the file has no secret`, key);
  if (secrets.length > 4) throw new CallpayError('config_invalid', `${key}: at most 4 secrets (one a line), got ${secrets.length}`, key);
  if (secrets.some((s) => s.length < 32)) throw new CallpayError('config_invalid', `${key}: every secret needs at least 32 characters`, key);
  return secrets;
}
