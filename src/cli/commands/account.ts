import { Option, type Command } from 'commander';
import { ACCOUNT_KINDS, ACCOUNT_PLANS, parseAccountKind, parseAccountPlan, parseCarrierAccountNumber } from '../../domain/account.js';
import { invalidField } from '../../domain/errors.js';
import { formatMinor, parseCurrency, parseMajorAmount } from '../../domain/money.js';
import { checkText } from '../../domain/text.js';
import { findConsumer } from '../../admin/consumers.js';
import { accountLine, accountView } from '../views.js';
import { withApp } from './shared.js';
import type { CliIo } from '../io.js';

interface AddOptions {
  kind: string;
  number: string;
  plan: string;
  creditLimit?: string;
  currency?: string;
  default?: boolean;
}

export function registerAccount(program: Command, io: CliIo): void {
  const account = program.command('account').description("billable accounts: the carrier accounts a consumer's payments are billed to");

  account
    .command('add')
    .description('add a billable account to a consumer (the first one becomes the default)')
    .argument('<consumer>', 'consumer id or login account')
    .addOption(new Option('--kind <kind>', 'billable device').choices([...ACCOUNT_KINDS]).makeOptionMandatory())
    .requiredOption('--number <account-number>', "carrier's account number for this line (sealed at rest)")
    .addOption(new Option('--plan <plan>', 'prepaid (balance) or postpaid (credit per cycle)').choices([...ACCOUNT_PLANS]).makeOptionMandatory())
    .option('--credit-limit <amount>', 'postpaid only: credit per billing cycle in major units, e.g. 5000 or 5000.00')
    .option('--currency <code>', 'ISO 4217 currency (default: config currency)')
    .option('--default', "make this the consumer's default account")
    .option('--json', 'machine-readable output')
    .action((ref: string, opts: AddOptions, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, audited }) => {
        const kind = parseAccountKind(opts.kind);
        const plan = parseAccountPlan(opts.plan);
        const number = parseCarrierAccountNumber(opts.number);
        const currency = parseCurrency(opts.currency ?? ctx.config.currency);
        if (plan === 'postpaid' && opts.creditLimit === undefined) throw invalidField('credit-limit', 'required for a postpaid account');
        if (plan === 'prepaid' && opts.creditLimit !== undefined) throw invalidField('credit-limit', 'only postpaid accounts have a credit limit');
        const creditLimit = opts.creditLimit === undefined ? null : parseMajorAmount(opts.creditLimit, currency, 'credit-limit');
        const consumer = await findConsumer(ctx.store.consumers, ref);
        const a = await audited('account.add', (tx) => tx.accounts.add({ consumerId: consumer.id, kind, number, plan, currency, creditLimit, makeDefault: opts.default === true }), (r) => ({
          subject: r.id, details: { consumer: consumer.id, kind, plan, currency, credit_limit_minor: creditLimit },
        }));
        ctx.log.info({ consumerId: consumer.id, accountId: a.id }, 'billable account added');
        out.result(accountView(a, false), () => `added ${accountLine(a, false)}`);
      }),
    );

  account
    .command('list')
    .description("list a consumer's billable accounts")
    .argument('<consumer>', 'consumer id or login account')
    .option('--reveal', 'show account numbers in full')
    .option('--json', 'machine-readable output')
    .action((ref: string, opts: { reveal?: boolean }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, audited }) => {
        const consumer = await findConsumer(ctx.store.consumers, ref);
        const list = await ctx.store.accounts.listForConsumer(consumer.id);
        const reveal = opts.reveal === true;
        if (reveal && list.length > 0) {
          await audited('account.reveal', async () => undefined, { subject: consumer.id, details: { accounts: list.map((a) => a.id), fields: ['number'] } });
        }
        out.result(list.map((a) => accountView(a, reveal)), () =>
          list.length === 0 ? 'no billable accounts' : list.map((a) => accountLine(a, reveal)).join('\n'),
        );
      }),
    );

  account
    .command('topup')
    .description('add credit to a prepaid account')
    .argument('<account>', 'billable account id (acct_…)')
    .requiredOption('--amount <amount>', 'amount in major units, e.g. 500 or 500.00')
    .option('--memo <text>', 'note kept with the ledger entry (e.g. the receipt number)')
    .option('--json', 'machine-readable output')
    .action((id: string, opts: { amount: string; memo?: string }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, audited }) => {
        const before = await ctx.store.accounts.get(id);
        const amount = parseMajorAmount(opts.amount, before.currency);
        if (amount === 0) throw invalidField('amount', 'expected more than zero');
        if (opts.memo !== undefined && opts.memo.length > 200) throw invalidField('memo', 'expected at most 200 characters');
        if (opts.memo !== undefined) checkText('memo', opts.memo);
        const a = await audited('account.topup', (tx) => tx.accounts.topup(id, amount, opts.memo ?? null), (r) => ({
          subject: id, details: { amount_minor: amount, currency: r.currency, balance_minor: r.balance },
        }));
        ctx.log.info({ accountId: a.id, amount }, 'prepaid account topped up');
        out.result(accountView(a, false), () => `${a.id} balance ${formatMinor(a.balance, a.currency)}`);
      }),
    );
}
