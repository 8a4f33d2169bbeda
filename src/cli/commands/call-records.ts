import type { Command } from 'commander';
import { invalidField } from '../../domain/errors.js';
import type { Payment } from '../../domain/payment.js';
import { callAttemptResource, type CallAttemptResource } from '../../payments/call-view.js';
import { columns, table } from '../output.js';
import { limitField, sinceField, withApp } from './shared.js';
import type { CliIo } from '../io.js';

const DEFAULT_LIMIT = 50;
/** One payment's attempts are a handful; this only bounds `call show`. */
const MAX_ATTEMPTS_SHOWN = 100;

/** Bad arguments are CallpayErrors, so they print as one line naming the option, with [invalid_field]. */
function paymentId(input: string, field = 'payment'): string {
  if (!/^pay_[0-9A-Z]{26}$/.test(input)) throw invalidField(field, 'expected a payment id (pay_ and 26 characters)');
  return input;
}

/** `call list` and `call show`: the CDRs of authorization calls (never the digits; the number masked). */
export function registerCallRecords(call: Command, io: CliIo): void {
  call
    .command('list')
    .description('list authorization call attempts, newest first (times, SIP status, outcome, digit count; the number masked)')
    .option('--payment <pay_id>', "only this payment's attempts (in attempt order)", (v: string) => paymentId(v))
    .option('--since <time>', 'only attempts started at or after this ISO 8601 time', sinceField)
    .option('--limit <n>', `at most this many (1-1000, default ${DEFAULT_LIMIT})`, limitField, DEFAULT_LIMIT)
    .option('--json', 'machine-readable output')
    .action((opts: { payment?: string; since?: string; limit: number }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        if (opts.payment !== undefined) await ctx.store.payments.get(opts.payment);
        const attempts = await ctx.store.callRecords.list({
          limit: opts.limit,
          ...(opts.payment !== undefined ? { paymentId: opts.payment } : {}),
          ...(opts.since !== undefined ? { since: opts.since } : {}),
        });
        const data = attempts.map(callAttemptResource);
        out.result(data, () => (data.length === 0 ? 'no call attempts' : attemptColumns(data, true)));
      }),
    );

  call
    .command('show')
    .description("show one payment's call attempts: times, SIP status, outcome, digit count (the number masked)")
    .argument('<payment_id>', 'the payment (pay_…)')
    .option('--json', 'machine-readable output')
    .action((id: string, _opts: unknown, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        const payment = await ctx.store.payments.get(paymentId(id, 'payment_id'));
        const data = (await ctx.store.callRecords.list({ paymentId: payment.id, limit: MAX_ATTEMPTS_SHOWN })).map(callAttemptResource);
        out.result({ payment: paymentSummary(payment), calls: data }, () =>
          [
            table([
              ['payment', payment.id],
              ['merchant', payment.merchantId],
              ['status', `${payment.status}${payment.failureCode ? ` (${payment.failureCode})` : ''}`],
              ['calls', String(data.length)],
            ]),
            ...(data.length === 0 ? [] : ['', attemptColumns(data, false)]),
          ].join('\n'),
        );
      }),
    );
}

function paymentSummary(p: Payment) {
  return { id: p.id, merchant_id: p.merchantId, status: p.status, failure_code: p.failureCode };
}

function attemptColumns(data: CallAttemptResource[], withPayment: boolean): string {
  const dash = (v: string | number | null) => (v === null ? '-' : String(v));
  return columns([
    [...(withPayment ? ['PAYMENT'] : []), 'ATTEMPT', 'STARTED', 'ANSWERED', 'ENDED', 'SIP', 'OUTCOME', 'DIGITS', 'NUMBER', 'REASON'],
    ...data.map((a) => [
      ...(withPayment ? [a.payment_id] : []),
      String(a.attempt),
      a.started_at,
      dash(a.answered_at),
      dash(a.ended_at),
      dash(a.sip_status),
      a.outcome,
      String(a.digit_count),
      a.number ?? '(changed since)',
      dash(a.reason),
    ]),
  ]);
}
