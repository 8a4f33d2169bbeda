import { InvalidArgumentError, type Command } from 'commander';
import { runDoctor } from '../../wiring/doctor.js';
import { summary } from '../../ops/doctor.js';
import { CommandFailed } from '../exit.js';
import type { GlobalOptions } from '../../wiring/context.js';
import type { CliIo } from '../io.js';

function wholeIn(min: number, max: number, what: string) {
  return (input: string): number => {
    if (!/^\d{1,9}$/.test(input) || Number(input) < min || Number(input) > max) throw new InvalidArgumentError(`expected ${what} from ${min} to ${max}`);
    return Number(input);
  };
}

const MARK = { pass: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' } as const;

export function registerDoctor(program: Command, io: CliIo): void {
  program
    .command('doctor')
    .description('check the install: config, key file and key/database match, database integrity and migrations, prompt clips, free disk, clock, the SIP trunk or FreeSWITCH event socket')
    .option('--webhooks', "also connect to every active merchant's webhook URL and check its TLS certificate")
    .option('--min-free-mib <n>', 'fail when less disk than this is free where the database lives', wholeIn(1, 10_000_000, 'MiB'), 512)
    .option('--timeout-ms <n>', 'bound of each network probe', wholeIn(100, 60_000, 'milliseconds'), 3000)
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nRead-only: opens the database read-only, places no call, POSTs nothing. Exit 0 when no check failed (warnings allowed), 1 otherwise.')
    .action(async (opts: { webhooks?: boolean; minFreeMib: number; timeoutMs: number; json?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const results = await runDoctor(globals, { cwd: io.cwd, env: io.env }, { webhooks: opts.webhooks === true, minFreeMiB: opts.minFreeMib, timeoutMs: opts.timeoutMs });
      const s = summary(results);
      if (opts.json === true) io.stdout.write(`${JSON.stringify({ ok: s.ok, checks: results }, null, 2)}\n`);
      else {
        const width = Math.max(...results.map((r) => r.check.length));
        for (const r of results) io.stdout.write(`${MARK[r.status]}  ${r.check.padEnd(width)}  ${r.detail}\n`);
        io.stdout.write(`${s.ok ? 'healthy' : 'NOT healthy'}: ${results.length} checks, ${s.failed} failed, ${s.warned} warnings\n`);
      }
      if (!s.ok) throw new CommandFailed(1, `doctor: ${s.failed} check${s.failed === 1 ? '' : 's'} failed [doctor_failed]`);
    });
}
