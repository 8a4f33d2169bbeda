import { Option, type Command } from 'commander';
import { CONSUMER_STATUSES, LOCALES, type ConsumerStatus } from '../../domain/consumer.js';
import { CallpayError } from '../../domain/errors.js';
import { enrolConsumer, findConsumer, setPassword, setPin, setPolicy, updateConsumer } from '../../admin/consumers.js';
import { formatMinor, parseMajorAmount } from '../../domain/money.js';
import { STRICT_CEILINGS } from '../../domain/policy.js';
import { invalidField } from '../../domain/errors.js';
import { consumerText, consumerView } from '../views.js';
import { columns } from '../output.js';
import { withApp, parseLimit } from './shared.js';
import type { CliIo } from '../io.js';
import type { AuditAction } from '../../domain/audit.js';

interface AddOptions {
  login: string;
  phone: string;
  nationalId: string;
  address: string;
  locale?: string;
  pinStdin?: boolean;
  passwordStdin?: boolean;
}

export function registerConsumer(program: Command, io: CliIo): void {
  const consumer = program.command('consumer').description('enrol and manage consumers (people who pay)');

  consumer
    .command('add')
    .description('enrol a consumer; the PIN (and optional password) are prompted for, or read from stdin')
    .requiredOption('--login <account>', 'login account used on checkout pages (unique)')
    .requiredOption('--phone <e164>', 'registered phone number that callpay calls, E.164 (+886912345678)')
    .requiredOption('--national-id <id>', 'national ID number (sealed at rest)')
    .requiredOption('--address <text>', 'postal address (sealed at rest)')
    .addOption(new Option('--locale <locale>', 'language of the call (default: config locale)').choices([...LOCALES]))
    .option('--pin-stdin', 'read the PIN (4-8 digits) from the first line of standard input')
    .option('--password-stdin', 'read the authentication password from the next line of standard input')
    .option('--json', 'machine-readable output')
    .action((opts: AddOptions, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, secrets, audited }) => {
        const pin = await secrets.read('pin', { fromStdin: opts.pinStdin === true, prompt: 'PIN: ', confirm: true, optional: false });
        const password = await secrets.read('password', {
          fromStdin: opts.passwordStdin === true,
          prompt: 'Password (Enter for none): ',
          confirm: true,
          optional: opts.passwordStdin !== true,
        });
        const c = await audited('consumer.add', (tx) => enrolConsumer({ ...ctx.consumerAdmin, consumers: tx.consumers }, { ...opts, pin: pin ?? '', password }),
          (r) => ({ subject: r.id, details: { password: password !== null && password !== '' } }));
        ctx.log.info({ consumerId: c.id }, 'consumer enrolled');
        out.result(consumerView(c, false), () => `enrolled ${c.id} (${c.login})`);
      }),
    );

  consumer
    .command('show')
    .description('show one consumer by id or login account (personal data masked)')
    .argument('<consumer>', 'consumer id (cons_…) or login account')
    .option('--reveal', 'show phone, national ID and address in full (PIN and password are never shown)')
    .option('--json', 'machine-readable output')
    .action((ref: string, opts: { reveal?: boolean }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, audited }) => {
        const c = await findConsumer(ctx.store.consumers, ref);
        const accounts = await ctx.store.accounts.listForConsumer(c.id);
        const reveal = opts.reveal === true;
        if (reveal) {
          // Recorded before anything is shown: a reveal that is not in the log does not happen.
          await audited('consumer.reveal', async () => undefined, { subject: c.id, details: { fields: ['phone', 'national_id', 'address'] } });
          ctx.log.warn({ consumerId: c.id }, 'personal data revealed to operator');
        }
        const view = consumerView(c, reveal);
        // A fraud report on a call locks the frictionless allowance (`fraud restore-allowance` lifts it).
        const lock = await ctx.store.fraud.allowanceLock(c.id);
        const allowance = lock ? `locked since ${lock.lockedAt} (fraud report on ${lock.paymentId ?? '-'})` : 'per policy';
        out.result({ ...view, accounts: accounts.map((a) => a.id), allowance_locked_at: lock?.lockedAt ?? null }, () => `${consumerText(view, accounts, reveal)}\nallowance  ${allowance}`);
      }),
    );

  consumer
    .command('list')
    .description('list consumers, oldest id first (personal data masked)')
    .addOption(new Option('--status <status>', 'only this status').choices([...CONSUMER_STATUSES]))
    .option('--limit <n>', 'at most this many (1-1000)', parseLimit, 100)
    .option('--after <id>', 'start after this consumer id (pagination)')
    .option('--reveal', 'show personal data in full')
    .option('--json', 'machine-readable output')
    .action((opts: { status?: ConsumerStatus; limit: number; after?: string; reveal?: boolean }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, audited }) => {
        const list = await ctx.store.consumers.list({ limit: opts.limit, ...(opts.status ? { status: opts.status } : {}), ...(opts.after ? { after: opts.after } : {}) });
        if (opts.reveal === true && list.length > 0) {
          await audited('consumer.reveal', async () => undefined, { subject: '*', details: { consumers: list.map((c) => c.id), fields: ['phone', 'national_id', 'address'] } });
        }
        const views = list.map((c) => consumerView(c, opts.reveal === true));
        out.result(views, () =>
          views.length === 0
            ? 'no consumers'
            : columns([['ID', 'LOGIN', 'STATUS', 'LOCALE', 'PHONE'], ...views.map((v) => [v.id, v.login, v.status, v.locale, v.phone])]),
        );
      }),
    );

  consumer
    .command('update')
    .description("change a consumer's phone, national ID, address or locale")
    .argument('<consumer>', 'consumer id or login account')
    .option('--phone <e164>', 'new registered phone number')
    .option('--national-id <id>', 'new national ID')
    .option('--address <text>', 'new address')
    .addOption(new Option('--locale <locale>', 'new call language').choices([...LOCALES]))
    .option('--json', 'machine-readable output')
    .action((ref: string, opts: { phone?: string; nationalId?: string; address?: string; locale?: string }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, audited }) => {
        if (Object.values(opts).every((v) => v === undefined || typeof v === 'boolean')) {
          throw new CallpayError('invalid_field', 'update: give at least one of --phone, --national-id, --address, --locale', 'update');
        }
        const id = (await findConsumer(ctx.store.consumers, ref)).id;
        const changed = Object.entries(opts).filter(([k, v]) => k !== 'json' && v !== undefined).map(([k]) => k);
        const c = await audited('consumer.update', (tx) => updateConsumer(tx.consumers, id, opts), { subject: id, details: { changed } });
        ctx.log.info({ consumerId: c.id, changed }, 'consumer updated');
        out.result(consumerView(c, false), () => `updated ${c.id}`);
      }),
    );

  consumer
    .command('set-pin')
    .description('replace the authorization PIN (prompted for, or --pin-stdin)')
    .argument('<consumer>', 'consumer id or login account')
    .option('--pin-stdin', 'read the new PIN from the first line of standard input')
    .action((ref: string, opts: { pinStdin?: boolean }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, secrets, audited }) => {
        const c = await findConsumer(ctx.store.consumers, ref);
        const pin = await secrets.read('pin', { fromStdin: opts.pinStdin === true, prompt: 'New PIN: ', confirm: true, optional: false });
        await audited('consumer.set_pin', (tx) => setPin({ ...ctx.consumerAdmin, consumers: tx.consumers }, c.id, pin ?? ''), { subject: c.id });
        ctx.log.info({ consumerId: c.id }, 'consumer PIN changed');
        out.result({ id: c.id, pin: 'changed' }, () => `PIN changed for ${c.id}`);
      }),
    );

  consumer
    .command('set-password')
    .description('set, replace or remove (--remove) the authentication password')
    .argument('<consumer>', 'consumer id or login account')
    .option('--password-stdin', 'read the new password from the first line of standard input')
    .option('--remove', 'remove the password (sign-in by login account alone)')
    .action((ref: string, opts: { passwordStdin?: boolean; remove?: boolean }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, secrets, audited }) => {
        const c = await findConsumer(ctx.store.consumers, ref);
        const password = opts.remove
          ? ''
          : await secrets.read('password', { fromStdin: opts.passwordStdin === true, prompt: 'New password: ', confirm: true, optional: false });
        await audited('consumer.set_password', (tx) => setPassword({ ...ctx.consumerAdmin, consumers: tx.consumers }, c.id, password ?? ''), {
          subject: c.id, details: { removed: opts.remove === true },
        });
        ctx.log.info({ consumerId: c.id, removed: opts.remove === true }, 'consumer password changed');
        out.result({ id: c.id, password: opts.remove ? 'removed' : 'changed' }, () => `password ${opts.remove ? 'removed' : 'changed'} for ${c.id}`);
      }),
    );

  consumer
    .command('policy')
    .description('set the flexible policy: which amounts skip the password or the call (within the carrier ceilings)')
    .argument('<consumer>', 'consumer id or login account')
    .option('--password-above <amount>', 'ask for the password only above this amount (0 = always)')
    .option('--call-above <amount>', 'call only above this amount (0 = always), at most the carrier ceiling')
    .option('--frictionless-amount <amount|none>', 'total of call-less payments allowed between two calls')
    .option('--frictionless-count <n|none>', 'number of call-less payments allowed between two calls')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nAmounts are in major units of the configured currency, e.g. 300 or 300.50.')
    .action((ref: string, opts: { passwordAbove?: string; callAbove?: string; frictionlessAmount?: string; frictionlessCount?: string }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, audited }) => {
        const currency = ctx.config.currency;
        const amount = (value: string | undefined, field: string) => (value === undefined ? undefined : parseMajorAmount(value, currency, field));
        const orNone = <T>(value: string | undefined, parse: (v: string) => T) => (value === undefined ? undefined : value === 'none' ? null : parse(value));
        const count = (v: string) => {
          if (!/^\d{1,4}$/.test(v)) throw invalidField('frictionless-count', 'expected a whole number or "none"');
          return Number(v);
        };
        const c = await findConsumer(ctx.store.consumers, ref);
        const ceilings = ctx.config.policy.ceilings[currency as keyof typeof ctx.config.policy.ceilings] ?? STRICT_CEILINGS;
        const input = {
          passwordAbove: amount(opts.passwordAbove, 'password-above'),
          callAbove: amount(opts.callAbove, 'call-above'),
          frictionlessAmount: orNone(opts.frictionlessAmount, (v) => parseMajorAmount(v, currency, 'frictionless-amount')),
          frictionlessCount: orNone(opts.frictionlessCount, count),
        };
        const changed = Object.entries(input).filter(([, v]) => v !== undefined).map(([k]) => k);
        const updated = await audited('consumer.policy', (tx) => setPolicy(tx.consumers, c.id, input, ceilings), { subject: c.id, details: { changed } });
        ctx.log.info({ consumerId: c.id }, 'consumer policy changed');
        const p = updated.policy;
        const money = (v: number | null) => (v === null ? 'none' : formatMinor(v, currency));
        out.result(consumerView(updated, false).policy, () =>
          `policy of ${c.id}: password above ${money(p.passwordAbove)}, call above ${money(p.callAbove)}, frictionless ${money(p.frictionlessAmount)} / ${p.frictionlessCount ?? 'none'} payments`);
      }),
    );

  const transitions: Array<[string, ConsumerStatus, string, ConsumerStatus[]]> = [
    ['lock', 'locked', 'lock a consumer: no payment, no call until unlocked', ['active']],
    ['unlock', 'active', 'unlock a locked consumer', ['locked']],
    ['close', 'closed', 'close a consumer for good (kept for billing history)', ['active', 'locked']],
  ];
  for (const [name, to, description, from] of transitions) {
    consumer
      .command(name)
      .description(description)
      .argument('<consumer>', 'consumer id or login account')
      .option('--json', 'machine-readable output')
      .action((ref: string, _opts: unknown, cmd: Command) =>
        withApp(io, cmd, async ({ ctx, out, audited }) => {
          const c = await findConsumer(ctx.store.consumers, ref);
          if (!from.includes(c.status)) {
            throw new CallpayError('invalid_state', `consumer: ${c.id} is ${c.status}; cannot ${name}`, 'consumer');
          }
          const updated = await audited(`consumer.${name}` as AuditAction, (tx) => tx.consumers.setStatus(c.id, to), { subject: c.id, details: { from: c.status, to } });
          ctx.log.info({ consumerId: c.id, from: c.status, to }, `consumer ${name}`);
          out.result(consumerView(updated, false), () => `${c.id} is now ${to}`);
        }),
      );
  }
}
