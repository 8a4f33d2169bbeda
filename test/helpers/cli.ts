import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { main } from '../../src/cli/main.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  logs: string;
}

function collect(stream: PassThrough): () => string {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks).toString('utf8');
}

/** Runs the real CLI in-process with its own streams; logs at debug level are captured too. */
export async function runCli(
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; stdin?: string; logLevel?: string },
): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = collect(stdout);
  const err = collect(stderr);
  let logs = '';
  const code = await main(['node', 'callpay', '--log-level', opts.logLevel ?? 'debug', ...args], {
    stdin: Readable.from(opts.stdin === undefined ? [] : [opts.stdin]),
    stdout,
    stderr,
    env: opts.env ?? {},
    cwd: opts.cwd,
    logDestination: { write: (line: string) => void (logs += line) },
  });
  return { code, stdout: out(), stderr: err(), logs };
}

/** The JSON a successful `--json` command printed (fails the test on an error or a stderr line). */
export function jsonOf<T>(r: CliResult): T {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** A temp directory that the test owns and removes. */
export function tempDir(prefix = 'callpay-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A connection of the test's own to a callpay database file, to look at rows; the caller closes it. */
export function openDb(file: string): Database.Database {
  return new Database(file, { readonly: true });
}

/** Every row of every table, for "the database is exactly as it was" checks. */
export function dumpDatabase(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all() as string[];
    const dump: Record<string, unknown[]> = {};
    for (const t of tables) {
      dump[t] = db.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).all();
    }
    return JSON.stringify(dump, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v));
  } finally {
    db.close();
  }
}
