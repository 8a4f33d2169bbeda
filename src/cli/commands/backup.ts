import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, constants, existsSync, fsyncSync, openSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { moveIntoPlace, refuseUnwritable } from '../../billing/atomic-file.js';
import { CallpayError, invalidField } from '../../domain/errors.js';
import { checkKeyMatches } from '../../store/key-check.js';
import { openDatabase } from '../../store/db.js';
import { copyDatabase, inspectBackup, summarizeFile, swapInDatabase, type DatabaseSummary } from '../../store/backup.js';
import { createOutput, table } from '../output.js';
import { loadKeyring, readConfig, type GlobalOptions } from '../../wiring/context.js';
import { withApp } from './shared.js';
import type { CliIo } from '../io.js';
import type { Config } from '../../config/schema.js';

const KEY_NOTE = 'The master key is not in the backup: keep a copy of the key file apart from it.';

/** These commands copy the SQLite file; a PostgreSQL store has its DBAs' tools for that. */
function refusePostgres(config: Config): void {
  if (config.store.driver === 'postgres') {
    throw new CallpayError('invalid_state', 'store.driver: backup and restore copy the SQLite file; back a PostgreSQL store up with pg_dump or continuous archiving (the key file apart, as always)', 'store.driver');
  }
}

export function registerBackup(program: Command, io: CliIo): void {
  program
    .command('backup')
    .description('write a consistent copy of the database while the daemon runs (SQLite online backup; mode 0600; the key is NOT included)')
    .requiredOption('--out <file>', 'the backup file to write')
    .option('--force', 'replace --out if it exists')
    .option('--json', 'machine-readable output')
    .addHelpText('after', `\n${KEY_NOTE}\nRestore with \`callpay restore --from FILE\` (daemon stopped).`)
    .action((opts: { out: string; force?: boolean }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        refusePostgres(ctx.config);
        const path = resolve(io.cwd, opts.out);
        const database = resolve(io.cwd, ctx.config.database);
        if (path === database || path.startsWith(`${database}-`)) throw invalidField('out', 'that is the database itself (or one of its journal files)');
        refuseUnwritable(path, opts.force === true, 'out');
        const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
        let summary: DatabaseSummary;
        try {
          closeSync(openSync(temp, 'wx', 0o600)); // owner-only before the first page is written
          chmodSync(temp, 0o600);
          await copyDatabase(database, temp);
          summary = summarizeFile(temp);
          fsyncFile(temp);
        } catch (e) {
          rmSync(temp, { force: true });
          throw e;
        }
        moveIntoPlace(temp, path, { overwrite: opts.force === true, field: 'out' });
        const bytes = statSync(path).size;
        ctx.log.info({ file: path, bytes, schemaVersion: summary.schemaVersion }, 'backup written');
        out.result({ file: path, bytes, ...summaryView(summary) }, () =>
          [table([['backup', `${path} (${bytes} bytes, mode 0600)`], ...summaryRows(summary)]), KEY_NOTE].join('\n'),
        );
        if (!summary.ledger.balanced) out.note('callpay: warning: the ledger in this backup does not balance (it is a faithful copy of the database)');
      }),
    );

  program
    .command('restore')
    .description('replace the database with a backup (stop the daemon first); the old database is kept as <database>.before-restore-<time>')
    .requiredOption('--from <file>', 'a file written by `callpay backup`')
    .option('--force', 'replace an existing database (required when there is one)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      [
        '',
        'Refused, with nothing changed: a file that is not an intact callpay database, one made by a newer',
        'callpay, one sealed under another master key (the configured key must be the one backed up with',
        'it), and a database that another process (the daemon) has open.',
      ].join('\n'),
    )
    .action(async (opts: { from: string; force?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions & { json?: boolean }>();
      const out = createOutput(io.stdout, io.stderr, globals.json === true);
      const config = readConfig(globals, { cwd: io.cwd, env: io.env });
      refusePostgres(config);
      const keyring = await loadKeyring(config, io.env);
      const from = resolve(io.cwd, opts.from);
      const target = resolve(io.cwd, config.database);
      if (!isFile(from)) throw new CallpayError('not_found', `from: no file ${from}`, 'from');
      if (isFile(target) && opts.force !== true) {
        throw new CallpayError('already_exists', `database: ${target} exists; pass --force to replace it (it is kept as ${basename(target)}.before-restore-<time>)`, 'database');
      }
      // Checked and upgraded as a private copy next to the database, so what is checked is what moves in.
      const staged = join(dirname(target), `.${basename(target)}.restore-${randomBytes(6).toString('hex')}.tmp`);
      let summary: DatabaseSummary;
      try {
        copyFileSync(from, staged, constants.COPYFILE_EXCL);
        chmodSync(staged, 0o600);
        summary = inspectBackup(staged, keyring);
        const upgraded = openDatabase(staged); // this build's migrations, as `serve` would apply them
        try {
          checkKeyMatches(upgraded, keyring);
        } finally {
          upgraded.close();
        }
        fsyncFile(staged);
      } catch (e) {
        rmSync(staged, { force: true });
        throw e;
      }
      const keptAs = freeName(`${target}.before-restore-${stamp(new Date())}`);
      let replaced: boolean;
      try {
        ({ replaced } = swapInDatabase(target, staged, keptAs));
      } catch (e) {
        rmSync(staged, { force: true });
        throw e;
      }
      const view = { database: target, from, kept_as: replaced ? keptAs : null, ...summaryView(summary) };
      out.result(view, () =>
        table([
          ['restored', `${target} from ${from}`],
          ['previous', replaced ? keptAs : 'none'],
          ...summaryRows(summary),
        ]),
      );
    });
}

function summaryView(s: DatabaseSummary) {
  return { schema_version: s.schemaVersion, tables: s.tables, ledger: s.ledger };
}

function summaryRows(s: DatabaseSummary): Array<[string, string]> {
  const counts = ['consumers', 'merchants', 'payments', 'transfers', 'call_attempts', 'events']
    .filter((t) => t in s.tables)
    .map((t) => `${t} ${s.tables[t]}`)
    .join(', ');
  return [
    ['schema', `migration ${s.schemaVersion}`],
    ['rows', counts],
    ['ledger', `${s.ledger.transfers} transfers over ${s.ledger.accounts} accounts, ${s.ledger.balanced ? 'balanced' : 'NOT balanced'}`],
    ['checksum', `sha256:${s.ledger.checksum}`],
  ];
}

/** 2026-11-30T16:41:29.123Z → 20261130T164129Z: sortable, and safe in a file name. */
function stamp(at: Date): string {
  return at.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}

/** Two restores within a second must not put the second's previous database over the first's. */
function freeName(base: string): string {
  for (let n = 1; n <= 100; n++) {
    const name = n === 1 ? base : `${base}-${n}`;
    if (!existsSync(name)) return name;
  }
  throw new CallpayError('already_exists', `database: too many ${basename(base)}* files; move some away`, 'database');
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function fsyncFile(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
