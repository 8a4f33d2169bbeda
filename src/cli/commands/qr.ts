import type { Command } from 'commander';
import { CallpayError, invalidField } from '../../domain/errors.js';
import { parseCurrency, parseMajorAmount } from '../../domain/money.js';
import { checkText } from '../../domain/text.js';
import { buildPayLink } from '../../checkout/pay-link.js';
import { qrForTerminal, qrImageFormat, writeQrImage } from '../../checkout/qr.js';
import { withApp } from './shared.js';
import type { CliIo } from '../io.js';

interface QrOptions {
  amount?: string;
  currency?: string;
  reference?: string;
  description?: string;
  out?: string;
}

/** `callpay merchant qr`: a signed pay link, and its QR, for a merchant without a website. */
export function registerMerchantQr(program: Command, io: CliIo): void {
  const merchant = program.commands.find((c) => c.name() === 'merchant');
  if (!merchant) throw new Error('registerMerchantQr: register the merchant command first');

  merchant
    .command('qr')
    .description('print a signed payment link and its QR code, for a fixed amount or one the consumer types')
    .argument('<merchant>', 'merchant id (mer_…)')
    .option('--amount <amount>', 'fixed amount in major units, e.g. 150 or 150.50 (default: the consumer types it)')
    .option('--currency <code>', 'currency of the amount (default: the configured currency)')
    .option('--reference <text>', 'order or stall reference shown on the page (at most 100 characters)')
    .option('--description <text>', 'what is being paid for (at most 200 characters)')
    .option('--out <file>', 'also write the QR code to this file: .svg or .png')
    .option('--json', 'machine-readable output: { "url" }')
    .action((id: string, opts: QrOptions, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        // Inputs first: a typo never costs a database lookup or leaves a half-written file.
        const currency = parseCurrency(opts.currency ?? ctx.config.currency);
        const amount = opts.amount === undefined ? undefined : parseAmount(opts.amount, currency);
        const reference = opts.reference === undefined ? undefined : parseText(opts.reference, 'reference', 100);
        const description = opts.description === undefined ? undefined : parseText(opts.description, 'description', 200);
        if (opts.out !== undefined) qrImageFormat(opts.out);
        const m = await ctx.store.merchants.get(id);
        if (m.status !== 'active') throw new CallpayError('invalid_state', `merchant: ${id} is ${m.status}; enable it first`, 'merchant');

        const url = buildPayLink(ctx.config.http.publicUrl, ctx.keyring, m.id, {
          currency,
          ...(amount === undefined ? {} : { amount }),
          ...(reference === undefined ? {} : { reference }),
          ...(description === undefined ? {} : { description }),
        });
        if (opts.out !== undefined) await writeQrImage(opts.out, url);
        ctx.log.info({ merchantId: m.id, fixedAmount: amount !== undefined }, 'payment QR issued');
        out.result(opts.out === undefined ? { url } : { url, file: opts.out }, () => {
          const lines = [url];
          // The drawing is for a person at a terminal; in a pipe it would only garble the link.
          if ((io.stdout as { isTTY?: boolean }).isTTY === true) lines.push('', qrForTerminal(url));
          if (opts.out !== undefined) lines.push(`QR code written to ${opts.out}`);
          return lines.join('\n');
        });
      }),
    );
}

function parseAmount(input: string, currency: string): number {
  const minor = parseMajorAmount(input, currency, 'amount');
  if (minor === 0) throw invalidField('amount', 'expected an amount above 0');
  return minor;
}

/** The same rule as the payment API's reference and description: printable, bounded. */
function parseText(input: string, field: string, max: number): string {
  if (input.trim() === '') throw invalidField(field, 'expected some text');
  if ([...input].length > max) throw invalidField(field, `expected at most ${max} characters`);
  return checkText(field, input);
}
