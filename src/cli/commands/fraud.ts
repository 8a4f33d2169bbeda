import type { Command } from 'commander';
import { invalidField } from '../../domain/errors.js';
import { CallpayError } from '../../domain/errors.js';
import type { FraudReport } from '../../domain/fraud.js';
import { formatMinor } from '../../domain/money.js';
import { findConsumer } from '../../admin/consumers.js';
import { columns } from '../output.js';
import { limitField, sinceField, withApp } from './shared.js';
import type { CliIo } from '../io.js';

const DEFAULT_LIMIT = 50;

/** Bad arguments are CallpayErrors, so they print as one line naming the option, with [invalid_field]. */
function id(prefix: string, field: string) {
  return (input: string): string => {
    if (!new RegExp(`^${prefix}_[0-9A-Za-z]{1,64}$`).test(input)) throw invalidField(field, `expected an id starting ${prefix}_`);
    return input;
  };
}

/** A report as operators read it: ids, amount and time; the consumer by id only. */
export function fraudReportView(r: FraudReport) {
  return { payment_id: r.paymentId, merchant_id: r.merchantId, consumer_id: r.consumerId, amount: r.amount, currency: r.currency, reported_at: r.reportedAt };
}

/**
 * `fraud list`: payments the consumer reported on the call (keyed 0), for review; `fraud
 * restore-allowance`: turns a consumer's frictionless allowance back on after a report locked it.
 * A merchant the reports disabled is enabled again with `merchant enable`.
 */
export function registerFraud(program: Command, io: CliIo): void {
  const fraud = program.command('fraud').description('payments consumers reported as not theirs on the call (keyed 0), for review');

  fraud
    .command('list')
    .description('list fraud reports, newest first (payment, merchant, consumer id, amount, time)')
    .option('--merchant <mer_id>', "only this merchant's", id('mer', 'merchant'))
    .option('--consumer <cons_id>', "only this consumer's", id('cons', 'consumer'))
    .option('--since <time>', 'only reports at or after this ISO 8601 time', sinceField)
    .option('--limit <n>', `at most this many (1-1000, default ${DEFAULT_LIMIT})`, limitField, DEFAULT_LIMIT)
    .option('--json', 'machine-readable output')
    .action((opts: { merchant?: string; consumer?: string; since?: string; limit: number }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        const reports = await ctx.store.fraud.list({
          limit: opts.limit,
          ...(opts.merchant !== undefined ? { merchantId: opts.merchant } : {}),
          ...(opts.consumer !== undefined ? { consumerId: opts.consumer } : {}),
          ...(opts.since !== undefined ? { since: opts.since } : {}),
        });
        const data = reports.map(fraudReportView);
        out.result(data, () =>
          data.length === 0
            ? 'no fraud reports'
            : columns([
              ['REPORTED', 'PAYMENT', 'MERCHANT', 'CONSUMER', 'AMOUNT'],
              ...reports.map((r) => [r.reportedAt, r.paymentId, r.merchantId, r.consumerId, formatMinor(r.amount, r.currency)]),
            ]),
        );
      }),
    );

  fraud
    .command('restore-allowance')
    .description("turn a consumer's frictionless allowance back on after a fraud report locked it")
    .argument('<consumer>', 'consumer id or login account')
    .option('--json', 'machine-readable output')
    .action((ref: string, _opts: unknown, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, audited }) => {
        const c = await findConsumer(ctx.store.consumers, ref);
        const lock = await ctx.store.fraud.allowanceLock(c.id);
        if (!lock) throw new CallpayError('invalid_state', `consumer: ${c.id}'s frictionless allowance is not locked`, 'consumer');
        await audited('consumer.allowance_unlock', (tx) => tx.fraud.unlockAllowance(c.id), {
          subject: c.id, details: { reason: lock.reason, payment_id: lock.paymentId, locked_at: lock.lockedAt },
        });
        ctx.log.info({ consumerId: c.id }, 'frictionless allowance restored');
        out.result({ id: c.id, allowance: 'restored', was_locked_at: lock.lockedAt }, () => `${c.id}: frictionless allowance restored (locked since ${lock.lockedAt})`);
      }),
    );
}
