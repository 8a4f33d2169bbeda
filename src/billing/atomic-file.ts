import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, linkSync, openSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CallpayError, invalidField } from '../domain/errors.js';

/**
 * Writes `data` to `path` so that a reader (the carrier's billing import) sees either no file or the
 * whole file: a 0600 temp file in the same directory (same filesystem, so the final step is atomic),
 * fsync'd, then moved into place, then the directory fsync'd so the name survives a power cut.
 * Without `overwrite` the move is a hard link, which fails if the name exists even if it appeared
 * a moment ago; with it, rename replaces the old file in one step.
 */
export function writeFileAtomic(path: string, data: string, opts: { overwrite: boolean; field?: string }): void {
  const field = opts.field ?? 'out';
  refuseUnwritable(path, opts.overwrite, field);
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(temp, 'wx', 0o600);
  } catch (e) {
    throw invalidField(field, `cannot create a file in ${dir} (${errnoOf(e)})`);
  }
  try {
    try {
      fchmodSync(fd, 0o600); // the umask could have narrowed it further; bills are not for others
      writeFileSync(fd, data, 'utf8');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
  moveIntoPlace(temp, path, { overwrite: opts.overwrite, field });
}

/**
 * The last step of an atomic write: a complete, fsync'd temp file in the target's directory takes
 * the target's name (rename with `overwrite`, else a hard link that fails if the name exists), then
 * the directory is fsync'd. The temp file is gone afterwards, whatever happened.
 */
export function moveIntoPlace(temp: string, path: string, opts: { overwrite: boolean; field: string }): void {
  try {
    if (opts.overwrite) renameSync(temp, path);
    else linkSync(temp, path);
  } catch (e) {
    rmSync(temp, { force: true });
    if (errnoOf(e) === 'EEXIST') throw exists(path, opts.field);
    throw e;
  }
  rmSync(temp, { force: true }); // after a link: the temp name is a second name for the same file
  fsyncDirectory(dirname(path));
}

/** Checked up front too, so a refusal comes before any work and names the field. */
export function refuseUnwritable(path: string, overwrite: boolean, field = 'out'): void {
  if (!isDirectory(dirname(path))) throw invalidField(field, `${dirname(path)} is not an existing directory`);
  let target: Stats;
  try {
    target = statSync(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return;
    throw invalidField(field, `cannot check ${path} (${errnoOf(e)})`);
  }
  if (target.isDirectory()) throw invalidField(field, `${path} is a directory`);
  if (!overwrite) throw exists(path, field);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function exists(path: string, field: string): CallpayError {
  return new CallpayError('already_exists', `${field}: ${path} already exists; pass --force to replace it`, field);
}

export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the file itself is already durable.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function errnoOf(e: unknown): string {
  return e instanceof Error && 'code' in e ? String((e as NodeJS.ErrnoException).code) : 'unknown error';
}
