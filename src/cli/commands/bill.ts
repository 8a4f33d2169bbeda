import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parseCycle } from '../../domain/billing.js';
import { invalidField } from '../../domain/errors.js';
import { formatMinor } from '../../domain/money.js';
import { buildBill } from '../../billing/export.js';
import { formatBill, parseBillFormat, CSV_COLUMNS } from '../../billing/format.js';
import { merchantSettlement, type Settlement } from '../../billing/settlement.js';
import { refuseUnwritable, writeFileAtomic } from '../../billing/atomic-file.js';
import { columns, table } from '../output.js';
import { withApp } from './shared.js';
import type { CliIo } from '../io.js';

const EXPORT_HELP = `
One line per charge and per refund billed in the cycle, grouped by billable account, ordered by time;
holds and voided payments are never billed. Each transfer belongs to the cycle in which it was
written (config billing.closingDay and billing.timeZone), so a cycle's export never changes once
the cycle has closed.

csv    RFC 4180, header row, CRLF. Columns:
       ${CSV_COLUMNS.slice(0, 8).join(', ')},
       ${CSV_COLUMNS.slice(8).join(', ')}
       amount_minor is an integer in minor units (refunds negative); amount is the same in major
       units. After each account's lines comes a row with type=total: amount_minor is the net,
       count, charges_minor and refunds_minor (refunds as a positive total) are filled in.
       Text cells starting with = + - @ TAB or CR get a leading ' so a spreadsheet never runs
       them as a formula.
jsonl  One JSON object per line: the lines, then {"type":"total",...} per account, then
       {"type":"summary","cycle",...,"net_minor":{"<currency>":...}}.

The carrier account number is the only personal data in the export; phone numbers, ID numbers,
addresses and login accounts never appear.

Examples:
  callpay bill export --cycle 2026-11 > bill-2026-11.csv
  callpay bill export --cycle 2026-11 --format jsonl --out /srv/billing/2026-11.jsonl`;

const SETTLEMENT_HELP = `
Gross charges, refunds and net per currency for one merchant in one billing cycle, from the same
ledger transfers as the bill export: a charge credits the merchant, a refund debits it.

Example:
  callpay settlement --merchant mer_01J... --cycle 2026-11 --json`;

interface ExportOptions {
  cycle: string;
  format: string;
  out?: string;
  force?: boolean;
}

export function registerBill(program: Command, io: CliIo): void {
  const bill = program.command('bill').description("billing exports for the carrier's billing system");

  bill
    .command('export')
    .description("export a billing cycle's charges and refunds per billable account (CSV or JSON Lines)")
    .requiredOption('--cycle <YYYY-MM>', 'billing cycle, named by the month it closes in, e.g. 2026-11')
    .option('--format <format>', 'csv or jsonl', 'csv')
    .option('--out <file>', 'write to this file atomically (mode 0600) instead of standard output')
    .option('--force', 'with --out: replace the file if it exists')
    .addHelpText('after', EXPORT_HELP)
    .action(async (opts: ExportOptions, cmd: Command) => {
      // Every check comes before the database is opened: bad input leaves nothing behind.
      const cycle = parseCycle(opts.cycle);
      const format = parseBillFormat(opts.format);
      if (opts.force && opts.out === undefined) throw invalidField('force', 'only applies with --out');
      const out = opts.out === undefined ? undefined : resolve(io.cwd, opts.out);
      if (out !== undefined) refuseUnwritable(out, opts.force === true);
      await withApp(io, cmd, async ({ ctx }) => {
        const data = await buildBill(ctx.store.billing, cycle);
        const text = formatBill(data, format);
        const summary = { cycle, format, lines: data.lines.length, accounts: new Set(data.lines.map((l) => l.accountId)).size };
        if (out === undefined) {
          io.stdout.write(text);
        } else {
          writeFileAtomic(out, text, { overwrite: opts.force === true });
          io.stdout.write(`wrote ${summary.lines} lines for ${summary.accounts} accounts (cycle ${cycle}) to ${out}\n`);
        }
        ctx.log.info({ ...summary, out: out ?? 'stdout' }, 'bill exported');
      });
    });

  program
    .command('settlement')
    .description("a merchant's charges, refunds and net for a billing cycle, per currency")
    .requiredOption('--merchant <id>', 'merchant id (mer_…)')
    .requiredOption('--cycle <YYYY-MM>', 'billing cycle, e.g. 2026-11')
    .option('--json', 'machine-readable output')
    .addHelpText('after', SETTLEMENT_HELP)
    .action(async (opts: { merchant: string; cycle: string }, cmd: Command) => {
      const cycle = parseCycle(opts.cycle);
      await withApp(io, cmd, async ({ ctx, out }) => {
        const s = await merchantSettlement(ctx.store.billing, opts.merchant.trim(), cycle);
        out.result(settlementView(s), () => settlementText(s));
      });
    });
}

function settlementView(s: Settlement) {
  return {
    merchant_id: s.merchantId,
    merchant_name: s.merchantName,
    cycle: s.cycle,
    currencies: s.currencies.map((c) => ({
      currency: c.currency,
      charges_minor: c.charges,
      charge_count: c.chargeCount,
      refunds_minor: c.refunds,
      refund_count: c.refundCount,
      net_minor: c.net,
    })),
  };
}

function settlementText(s: Settlement): string {
  const head = table([['merchant', `${s.merchantId}  ${s.merchantName}`], ['cycle', s.cycle]]);
  if (s.currencies.length === 0) return `${head}\nno charges or refunds in this cycle`;
  const rows = s.currencies.map((c) => [
    c.currency, formatMinor(c.charges, c.currency), String(c.chargeCount), formatMinor(c.refunds, c.currency), String(c.refundCount), formatMinor(c.net, c.currency),
  ]);
  return `${head}\n\n${columns([['CURRENCY', 'CHARGES', 'COUNT', 'REFUNDS', 'COUNT', 'NET'], ...rows])}`;
}
