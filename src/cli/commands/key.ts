import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { createKeyFile, loadMasterKey } from '../../crypto/master-key.js';
import { Keyring } from '../../crypto/keyring.js';
import type { KeyStatus, RekeyCursor } from '../../domain/key-rotation.js';
import { withApp } from './shared.js';
import { createOutput, columns } from '../output.js';
import { CommandFailed } from '../exit.js';
import { operatorName } from '../actor.js';
import type { CliIo } from '../io.js';
import type { GlobalOptions } from '../../wiring/context.js';

/** A whole pass re-reads every row; three cover rows a concurrent writer still sealed under an old key. */
const MAX_PASSES = 3;

function parseBatch(input: string): number {
  if (!/^\d{1,5}$/.test(input) || Number(input) < 1 || Number(input) > 10_000) throw new InvalidArgumentError('expected a whole number from 1 to 10000');
  return Number(input);
}

function statusText(s: KeyStatus): string {
  const pending = Object.entries(s.pending);
  const hashes = Object.entries(s.secretHashes);
  return [
    `current key   ${s.currentKey}`,
    `held keys     ${s.heldKeys.join(', ')}`,
    `database key  ${s.databaseKey}${s.databaseKey === s.currentKey ? '' : ' (rotation not finished: run `callpay key rotate`)'}`,
    pending.length === 0 ? 'pending       nothing: every sealed value and index is under the current key' : columns([['PENDING', 'VALUES'], ...pending.map(([k, n]) => [k, String(n)])]),
    columns([['PIN/PASSWORD HASHES UNDER KEY', 'COUNT'], ...hashes.map(([k, n]) => [k === s.currentKey ? `${k} (current)` : k, String(n)])]),
    `dials whose number could not be re-keyed: ${s.dialsWithoutNumber}`,
  ].join('\n');
}

/** Hashes still peppered under a key other than the current one: why a previous key may still be needed. */
function staleHashes(s: KeyStatus): number {
  return Object.entries(s.secretHashes).reduce((n, [k, count]) => (k === s.currentKey ? n : n + count), 0);
}

export function registerKey(program: Command, io: CliIo): void {
  const key = program
    .command('key')
    .description('the master key: make a new one, see what is sealed under which key, rotate to a new key')
    .addHelpText(
      'after',
      [
        '',
        'Rotating to a new master key:',
        '  1. callpay key new --out /etc/callpay/master-2.key',
        '  2. in the config: "keyFile" = the new file, "previousKeyFiles" = ["<the old keyFile>"];',
        '     restart the daemon (it then reads both keys and writes with the new one)',
        '  3. callpay key rotate          (resumable: after a crash or kill, run it again)',
        '  4. callpay key status          PIN/password hashes move at each consumer\'s next entry;',
        '     drop the old file from previousKeyFiles once none is left under it (or reset those PINs)',
      ].join('\n'),
    );

  key
    .command('new')
    .description('create a new master key file (mode 0600, never overwriting) and print its id')
    .requiredOption('--out <file>', 'where to write the key')
    .option('--json', 'machine-readable output')
    .action(async (opts: { out: string }, cmd: Command) => {
      const out = createOutput(io.stdout, io.stderr, cmd.optsWithGlobals<GlobalOptions & { json?: boolean }>().json === true);
      const path = resolve(io.cwd, opts.out);
      await createKeyFile(path);
      const master = await loadMasterKey({ keyFile: path, env: {} });
      const id = (await Keyring.fromMasterKey(master)).currentId;
      master.fill(0);
      out.result({ key_file: path, key_id: id }, () => `key ${id} written to ${path} (mode 0600). Back it up apart from the database.`);
    });

  key
    .command('status')
    .description('which master key the database and its sealed values, indexes and PIN hashes are under')
    .option('--json', 'machine-readable output')
    .action((_opts: unknown, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        const s = await ctx.store.keys.status();
        out.result(s, () => statusText(s));
      }),
    );

  key
    .command('rotate')
    .description('re-seal every sealed value and blind index under the current key (keyFile), from the previous keys (previousKeyFiles)')
    .option('--batch-size <n>', 'rows per transaction (1-10000)', parseBatch, 500)
    .option('--progress', 'one line on stderr per batch written')
    .option('--json', 'machine-readable output')
    .action((opts: { batchSize: number; progress?: boolean }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        const store = ctx.store;
        if (ctx.keyring.ids.length < 2) {
          throw new CommandFailed(2, 'previousKeyFiles: empty; make a key with `callpay key new`, set it as keyFile and list the old key file in previousKeyFiles, then run this again [usage]');
        }
        const verdict = await store.audit.verify();
        if (!verdict.ok) {
          // The rotation's last audit entry vouches for every entry before it; it must not vouch for a broken one.
          throw new CommandFailed(1, `audit log broken at entry ${verdict.brokenAt} (${verdict.reason}); see \`callpay audit verify\` before rotating [audit_broken]`);
        }
        const before = await store.keys.status();
        const actor = operatorName(io.env);
        const edge = { from: before.databaseKey, to: before.currentKey };
        await store.audit.append({ actor, action: 'key.rotate', subject: '*', details: { phase: 'started', ...edge } });
        let changed = 0;
        let finished = false;
        for (let pass = 0; pass < MAX_PASSES && !finished; pass += 1) {
          let cursor: RekeyCursor | null = null;
          do {
            const batch: { changed: number; next: RekeyCursor | null } = await store.keys.rekeyBatch(cursor, opts.batchSize);
            changed += batch.changed;
            cursor = batch.next;
            if (opts.progress && batch.changed > 0) io.stderr.write(`key rotate: pass ${pass + 1}, ${changed} rows re-sealed\n`);
          } while (cursor !== null);
          finished = await store.keys.finish();
        }
        if (!finished) {
          const left = await store.keys.status();
          throw new CommandFailed(1, `values still under a previous key after ${MAX_PASSES} passes (${Object.keys(left.pending).join(', ')}): is a process still running with an old key as keyFile? [rotation_incomplete]`);
        }
        await store.audit.append({ actor, action: 'key.rotate', subject: '*', details: { phase: 'completed', ...edge, rows: changed } }, { checkpoint: true });
        const after = await store.keys.status();
        const stale = staleHashes(after);
        out.result({ ...after, rows_rekeyed: changed }, () =>
          [
            `rotated: ${changed} rows re-sealed; every sealed value and index is now under key ${after.currentKey}`,
            stale === 0
              ? 'every PIN and password hash is under the current key: previousKeyFiles can be emptied'
              : `${stale} PIN/password hashes still use a previous key's pepper; each moves at the consumer's next successful entry. Keep previousKeyFiles until \`callpay key status\` shows none (or reset those PINs).`,
          ].join('\n'),
        );
      }),
    );
}
