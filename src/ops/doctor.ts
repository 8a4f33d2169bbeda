import { constants, existsSync, statSync } from 'node:fs';
import { access, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LOCALES } from '../domain/locale.js';
import { checkPromptPack, describeIssue, describePack } from '../ivr/prompt-check.js';
import type { StoreInspection } from '../store/inspect.js';

/**
 * `callpay doctor`: one line per check, each a value. Checks never throw: what they cannot find out
 * is a failure that says so. The telephone path and the store are probed by src/wiring/doctor.ts,
 * which knows the engines and stores; the checks here read files, the clock and the disk.
 */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Stable name, e.g. "key-file". */
  check: string;
  status: CheckStatus;
  detail: string;
}

export const pass = (check: string, detail: string): CheckResult => ({ check, status: 'pass', detail });
export const fail = (check: string, detail: string): CheckResult => ({ check, status: 'fail', detail });
export const warn = (check: string, detail: string): CheckResult => ({ check, status: 'warn', detail });
export const skip = (check: string, detail: string): CheckResult => ({ check, status: 'skip', detail });

/** The key file: present, a regular file, owner-only, owned by whoever runs callpay. */
export function checkKeyFile(keyFile: string, fromEnv: boolean): CheckResult {
  if (fromEnv) return pass('key-file', 'master key from CALLPAY_MASTER_KEY (the key file is not used)');
  if (!existsSync(keyFile)) return fail('key-file', `${keyFile} not found (callpay init creates it)`);
  const st = statSync(keyFile);
  if (!st.isFile()) return fail('key-file', `${keyFile} is not a regular file`);
  if ((st.mode & 0o077) !== 0) return fail('key-file', `${keyFile} has mode ${(st.mode & 0o777).toString(8)}; it must be 0600 (or 0400): chmod 600 ${keyFile}`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return warn('key-file', `${keyFile} is owned by uid ${st.uid}, callpay runs as uid ${uid}`);
  return pass('key-file', `${keyFile} mode ${(st.mode & 0o777).toString(8)}`);
}

/** What the read-only look at the database found: key, integrity, migrations. */
export function checkDatabase(path: string, db: StoreInspection): CheckResult[] {
  if (!db.exists) return [fail('database', `${path} does not exist (callpay init creates it)`)];
  if (db.integrityProblems.length > 0) return [fail('database', `${path} integrity check failed: ${db.integrityProblems.slice(0, 3).join('; ')}`)];
  const out: CheckResult[] = [];
  if (db.keyMatches === false) out.push(fail('key-matches-database', 'the master key does not open this database (wrong key file or CALLPAY_MASTER_KEY?)'));
  else if (db.keyMatches === null) out.push(warn('key-matches-database', 'the database holds no key canary yet (no command has opened it with a key)'));
  else if (db.rotationPending) out.push(warn('key-matches-database', 'the database is still under a previous key (previousKeyFiles): finish the rotation with `callpay key rotate`'));
  else out.push(pass('key-matches-database', 'the key opens the database canary'));
  out.push(
    db.foreignKeyViolations > 0
      ? fail('database', `${path}: ${db.foreignKeyViolations} rows break foreign keys`)
      : pass('database', `${path}: integrity ok, foreign keys ok`),
  );
  if (db.appliedVersion > db.knownVersion) out.push(fail('migrations', `database at migration ${db.appliedVersion}, newer than this build knows (${db.knownVersion}): upgrade callpay`));
  else if (db.appliedVersion < db.knownVersion) out.push(warn('migrations', `database at migration ${db.appliedVersion} of ${db.knownVersion}: the next command or callpay serve applies the rest`));
  else out.push(pass('migrations', `all ${db.knownVersion} migrations applied`));
  if (db.audit?.ok === false) out.push(fail('audit-log', `hash chain broken at entry ${db.audit.brokenAt} (${db.audit.reason}): see callpay audit verify`));
  else if (db.audit) out.push(pass('audit-log', `hash chain intact over ${db.audit.rows} entries`));
  return out;
}

/**
 * Every locale's clip set is complete, in the one playable format, not silent or clipped, and even in
 * loudness (the rules of `callpay prompts check`, ivr/prompt-check.ts); merchants' name clips exist.
 */
export async function checkPrompts(promptsDir: string, voiceClips: readonly string[]): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const locale of LOCALES) {
    try {
      const r = await checkPromptPack(promptsDir, locale);
      const shown = r.issues.slice(0, 5).map(describeIssue).join('; ');
      const more = r.issues.length > 5 ? `; and ${r.issues.length - 5} more (callpay prompts check --locale ${locale})` : '';
      out.push(r.issues.length === 0 ? pass(`prompts-${locale}`, describePack(r)) : fail(`prompts-${locale}`, `${shown}${more}`));
    } catch (e) {
      out.push(fail(`prompts-${locale}`, String(e)));
    }
  }
  const missing = voiceClips.filter((c) => !existsSync(c));
  if (voiceClips.length > 0) {
    out.push(missing.length > 0
      ? warn('merchant-voices', `${missing.length} of ${voiceClips.length} merchants' spoken-name clips are missing (calls say "a merchant"): ${missing.slice(0, 3).join(', ')}`)
      : pass('merchant-voices', `${voiceClips.length} spoken-name clips present`));
  }
  return out;
}

/** Free space where the database (and its WAL) grows, and that callpay may write there. */
export async function checkDisk(databasePath: string, minFreeMiB: number): Promise<CheckResult> {
  const dir = dirname(databasePath);
  try {
    await access(dir, constants.W_OK);
  } catch {
    return fail('disk', `${dir} is not writable by this user`);
  }
  try {
    const s = await statfs(dir);
    const freeMiB = Math.floor((s.bavail * s.bsize) / 2 ** 20);
    return freeMiB < minFreeMiB
      ? fail('disk', `${freeMiB} MiB free in ${dir}; at least ${minFreeMiB} MiB wanted`)
      : pass('disk', `${freeMiB} MiB free in ${dir}`);
  } catch (e) {
    return fail('disk', `cannot read free space of ${dir}: ${(e as Error).message}`);
  }
}

/**
 * The clock: payments, CDRs and bills carry its times. It must not be behind what callpay already
 * wrote (a clock that jumped back reorders the ledger's story), nor absurd.
 */
export function checkClock(now: Date, newestWrite: string | null, toleranceMs = 5 * 60_000): CheckResult {
  if (now.getUTCFullYear() < 2024) return fail('clock', `system time ${now.toISOString()} is before 2024: is NTP running?`);
  if (newestWrite !== null) {
    const ahead = Date.parse(newestWrite) - now.getTime();
    if (ahead > toleranceMs) return fail('clock', `the database holds a time ${Math.round(ahead / 1000)} s ahead of the system clock (${newestWrite}): the clock went back`);
  }
  return pass('clock', `system time ${now.toISOString()}`);
}

export function summary(results: readonly CheckResult[]): { ok: boolean; failed: number; warned: number } {
  const failed = results.filter((r) => r.status === 'fail').length;
  return { ok: failed === 0, failed, warned: results.filter((r) => r.status === 'warn').length };
}
