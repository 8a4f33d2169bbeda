import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../../config/schema.js';
import { CallpayError, invalidField } from '../../domain/errors.js';
import { copySqliteToPostgres, type CopyReport } from '../../store/copy.js';
import { loadKeyring, readConfig, type GlobalOptions } from '../../wiring/context.js';
import { migrateStore, type MigrateReport } from '../../wiring/migrate.js';
import { postgresUrl } from '../../wiring/stores.js';
import { createOutput, table } from '../output.js';
import type { CliIo } from '../io.js';

const PASSWORD_NOTE = [
  'The PostgreSQL password never goes on the command line: it comes from store.password,',
  'CALLPAY_STORE_PASSWORD or store.passwordFile, as for the daemon. A URL with a password is refused.',
].join('\n');

export function registerStore(program: Command, io: CliIo): void {
  program
    .command('migrate')
    .description('bring the configured store\'s schema up to date (SQLite `database`, or PostgreSQL `store.url` with store.driver "postgres"); nothing else is opened')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nSafe beside running nodes: each migration is applied once. A database made by a newer callpay is refused.')
    .action(async (_opts: unknown, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions & { json?: boolean }>();
      const config = readConfig(globals, { cwd: io.cwd, env: io.env });
      const driver = config.store.driver;
      const report = await migrateStore(driver === 'sqlite' ? { ...config, database: resolve(io.cwd, config.database) } : config);
      createOutput(io.stdout, io.stderr, globals.json === true).result(migrateView(report), () => migrateText(report));
    });

  program
    .command('store')
    .description('move a store\'s data between drivers')
    .command('copy')
    .description('copy a SQLite callpay database into an empty PostgreSQL one, in one transaction, verified by row counts and the ledger checksum')
    .requiredOption('--from <sqlite[:PATH]>', 'the SQLite database (`sqlite` alone: the configured `database`)')
    .requiredOption('--to <postgres[:URL]>', 'the PostgreSQL database (`postgres` alone: the configured store.url)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      [
        '',
        PASSWORD_NOTE,
        'Stop the daemon first: a source written during the copy is refused. Sealed values are copied sealed;',
        'the configured master key must open the source. Refused, with nothing copied: a target holding any',
        'callpay rows, a source or target made by a newer callpay, tables or columns that differ.',
      ].join('\n'),
    )
    .action(async (opts: { from: string; to: string }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions & { json?: boolean }>();
      const config = readConfig(globals, { cwd: io.cwd, env: io.env });
      const from = resolve(io.cwd, sqliteSource(opts.from, config));
      const to = postgresTarget(opts.to, config);
      const keyring = await loadKeyring(config, io.env);
      const report = await copySqliteToPostgres({ from, toUrl: withPassword(to, config), toLabel: to, crypto: keyring });
      createOutput(io.stdout, io.stderr, globals.json === true).result(copyView(from, to, report), () => copyText(from, to, report));
    });
}

/** `sqlite` or `sqlite:` = the configured database; `sqlite:PATH` = that file. */
function sqliteSource(arg: string, config: Config): string {
  const m = /^sqlite(?::(.*))?$/s.exec(arg);
  if (!m) throw invalidField('from', 'expected sqlite or sqlite:PATH');
  return m[1] ? m[1] : config.database;
}

/** `postgres` or `postgres:` = store.url; `postgres:URL` or a bare postgres:// URL = that database. */
function postgresTarget(arg: string, config: Config): string {
  let url: string;
  if (/^postgres(ql)?:\/\//.test(arg)) url = arg;
  else {
    const m = /^postgres(?::(.*))?$/s.exec(arg);
    if (!m) throw invalidField('to', 'expected postgres or postgres:URL');
    if (m[1]) url = m[1];
    else if (config.store.url !== null) url = config.store.url;
    else throw new CallpayError('config_invalid', 'store.url: null; give the target as --to postgres:postgres://HOST/DATABASE or set store.url', 'store.url');
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidField('to', 'not a URL; expected postgres://USER@HOST:PORT/DATABASE');
  }
  if (!/^postgres(ql)?:$/.test(parsed.protocol)) throw invalidField('to', 'expected a postgres:// URL');
  // The URL is shown and logged; the password belongs in store.password or its file.
  if (parsed.password !== '') throw invalidField('to', 'the URL holds a password; set store.password, CALLPAY_STORE_PASSWORD or store.passwordFile instead');
  return url;
}

function withPassword(url: string, config: Config): string {
  return postgresUrl({ ...config, store: { ...config.store, url } });
}

function migrateView(r: MigrateReport) {
  return { driver: r.driver, database: r.location, version_before: r.before, version_after: r.after, applied: r.applied, newest_known: r.newest };
}

function migrateText(r: MigrateReport): string {
  return table([
    ['store', `${r.driver} ${r.location}`],
    ['before', `migration ${r.before}`],
    ['after', `migration ${r.after}${r.applied.length === 0 ? ' (nothing to apply)' : ` (applied ${r.applied.join(', ')})`}`],
    ['newest', `migration ${r.newest} (this build)`],
  ]);
}

function copyView(from: string, to: string, r: CopyReport) {
  return {
    from,
    to,
    source_schema_version: r.sourceVersion,
    target_schema_version: r.targetVersion,
    tables: Object.fromEntries(r.tables.map((t) => [t.name, t.rows])),
    ledger: r.ledger,
    verified: true,
  };
}

function copyText(from: string, to: string, r: CopyReport): string {
  const rows = r.tables.reduce((n, t) => n + t.rows, 0);
  return table([
    ['from', `${from} (SQLite migration ${r.sourceVersion})`],
    ['to', `${to} (PostgreSQL migration ${r.targetVersion})`],
    ['copied', `${rows} rows in ${r.tables.length} tables: ${r.tables.filter((t) => t.rows > 0).map((t) => `${t.name} ${t.rows}`).join(', ')}`],
    ['ledger', `${r.ledger.transfers} transfers over ${r.ledger.accounts} accounts, ${r.ledger.balanced ? 'balanced' : 'NOT balanced'}`],
    ['checksum', `sha256:${r.ledger.checksum}`],
    ['verified', 'row counts and ledger checksum equal on both sides'],
  ]);
}
