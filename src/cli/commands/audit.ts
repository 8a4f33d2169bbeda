import { InvalidArgumentError, type Command } from 'commander';
import { columns } from '../output.js';
import { CommandFailed } from '../exit.js';
import { withApp, parseLimit } from './shared.js';
import type { CliIo } from '../io.js';

function parseSeq(input: string): number {
  if (!/^\d{1,15}$/.test(input)) throw new InvalidArgumentError('expected a sequence number (a whole number)');
  return Number(input);
}

function parseSubject(input: string): string {
  if (!/^[A-Za-z0-9_*-]{1,64}$/.test(input)) throw new InvalidArgumentError('expected an id such as cons_… or mer_…');
  return input;
}

export function registerAudit(program: Command, io: CliIo): void {
  const audit = program
    .command('audit')
    .description('the operator audit log: who revealed or changed personal data, balances, locks, merchant credentials or keys');

  audit
    .command('list')
    .description('list audit entries, oldest first (ids and changed field names only, never values)')
    .option('--limit <n>', 'at most this many (1-1000)', parseLimit, 100)
    .option('--after <seq>', 'start after this entry (pagination)', parseSeq)
    .option('--subject <id>', 'only entries about this consumer, account or merchant id', parseSubject)
    .option('--json', 'machine-readable output')
    .action((opts: { limit: number; after?: number; subject?: string }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        const list = await ctx.store.audit.list({ limit: opts.limit, ...(opts.after !== undefined ? { after: opts.after } : {}), ...(opts.subject ? { subject: opts.subject } : {}) });
        out.result(list, () =>
          list.length === 0
            ? 'no audit entries'
            : columns([['SEQ', 'AT', 'ACTOR', 'ACTION', 'SUBJECT', 'DETAILS'], ...list.map((e) => [String(e.seq), e.at, e.actor, e.action, e.subject, JSON.stringify(e.details)])]),
        );
      }),
    );

  audit
    .command('verify')
    .description('check the hash chain of the whole audit log; exits 1 if any entry was changed or removed')
    .option('--json', 'machine-readable output')
    .action((_opts: unknown, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        const verdict = await ctx.store.audit.verify();
        if (verdict.ok) {
          out.result(verdict, () => `audit log intact: ${verdict.rows} entries${verdict.lastSeq === null ? '' : `, last ${verdict.lastSeq}`}`);
          return;
        }
        out.result(verdict, () => `audit log BROKEN at entry ${verdict.brokenAt} (${verdict.reason}); ${verdict.rows} entries before it verify`);
        throw new CommandFailed(1, `audit log broken at entry ${verdict.brokenAt}: ${verdict.reason} [audit_broken]`);
      }),
    );
}
