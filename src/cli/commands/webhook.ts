import { Option, type Command } from 'commander';
import { CallpayError, invalidField } from '../../domain/errors.js';
import { columns } from '../output.js';
import { withApp, parseLimit, sinceField } from './shared.js';
import type { AppContext } from '../../wiring/context.js';
import type { CliIo } from '../io.js';
import { DELIVERY_STATUSES, EVENT_TYPES, type DeliveryInfo, type DeliveryStatus } from '../../domain/event.js';

/** A replay touching more events than this asks the operator to continue with a later --since. */
const REPLAY_CAP = 1000;

interface ReplayOptions {
  event?: string;
  merchant?: string;
  since?: string;
  type?: string;
}

export function registerWebhook(program: Command, io: CliIo): void {
  const webhook = program.command('webhook').description('inspect and replay signed webhook deliveries to merchants');

  webhook
    .command('replay')
    .description('send existing events to the merchant again, as new deliveries to its current webhook URL')
    .option('--event <evt_id>', 'replay this one event')
    .option('--merchant <mer_id>', "replay this merchant's events (oldest first, at most 1000 per run)")
    .option('--since <time>', 'with --merchant: only events created at or after this ISO 8601 time')
    .addOption(new Option('--type <type>', 'with --merchant: only events of this type').choices([...EVENT_TYPES]))
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      [
        '',
        'Give either --event or --merchant. Earlier deliveries are left as they are; each replayed event',
        'gets a new delivery, signed and retried like any other, which the running daemon sends.',
        'Merchants may receive an event more than once and must dedupe by its id.',
        '',
        'Examples:',
        '  callpay webhook replay --event evt_01J…',
        '  callpay webhook replay --merchant mer_01J… --since 2025-03-01T00:00:00Z --type payment.succeeded',
      ].join('\n'),
    )
    .action((opts: ReplayOptions, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        const { deliveries, more } = await replay(ctx, opts);
        ctx.log.info({ count: deliveries.length }, 'webhook deliveries enqueued for replay');
        out.result({ deliveries, continue_since: more ?? null }, () =>
          [
            `${deliveries.length} deliver${deliveries.length === 1 ? 'y' : 'ies'} enqueued`,
            ...deliveries.map((d) => `  ${d.delivery_id}  ${d.event_id}`),
            more ? `More events match (cap ${REPLAY_CAP}); continue with --since ${more}` : '',
          ].filter(Boolean).join('\n'),
        );
      }),
    );

  webhook
    .command('list')
    .description('list webhook deliveries, newest first')
    .option('--merchant <mer_id>', 'only this merchant')
    .addOption(new Option('--status <status>', 'only deliveries in this state').choices([...DELIVERY_STATUSES]))
    .option('--limit <n>', 'at most this many (1-1000)', parseLimit, 50)
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\npending = waiting for its next attempt; failed = gave up after the retry window (see `webhook replay`).',
    )
    .action((opts: { merchant?: string; status?: DeliveryStatus; limit: number }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        const list = await ctx.store.deliveries.list({
          limit: opts.limit,
          ...(opts.merchant ? { merchantId: opts.merchant } : {}),
          ...(opts.status ? { status: opts.status } : {}),
        });
        out.result(list.map(deliveryView), () =>
          list.length === 0
            ? 'no deliveries'
            : columns([
                ['ID', 'EVENT', 'TYPE', 'STATUS', 'ATTEMPTS', 'NEXT ATTEMPT', 'LAST'],
                ...list.map((d) => [d.id, d.eventId, d.eventType, d.status, String(d.attempts), d.status === 'pending' ? d.nextAttemptAt : '-', lastOutcome(d)]),
              ]),
        );
      }),
    );
}

async function replay(ctx: AppContext, opts: ReplayOptions): Promise<{ deliveries: Array<{ delivery_id: string; event_id: string }>; more?: string }> {
  if ((opts.event === undefined) === (opts.merchant === undefined)) throw invalidField('event', 'give either --event or --merchant');
  if (opts.event !== undefined && (opts.since !== undefined || opts.type !== undefined)) {
    throw invalidField('since', '--since and --type go with --merchant, not --event');
  }
  let merchantId: string;
  let events: Array<{ seq: number; id: string; createdAt: string }>;
  if (opts.event !== undefined) {
    const event = await ctx.store.events.get(opts.event);
    if (!event) throw new CallpayError('not_found', `event: no event ${opts.event}`, 'event');
    merchantId = event.merchantId;
    events = [{ seq: event.seq, id: event.id, createdAt: event.createdAt }];
  } else {
    merchantId = opts.merchant ?? '';
    await ctx.store.merchants.get(merchantId);
    const since = opts.since === undefined ? undefined : sinceField(opts.since);
    events = await ctx.store.deliveries.eventsToReplay(merchantId, { ...(since ? { since } : {}), ...(opts.type ? { type: opts.type } : {}), limit: REPLAY_CAP + 1 });
    if (events.length === 0) throw new CallpayError('not_found', `merchant: no events of ${merchantId} match`, 'merchant');
  }
  const url = (await ctx.store.merchants.get(merchantId)).webhookUrl;
  if (!url) throw invalidField('merchant', `${merchantId} has no webhook URL`);
  const more = events.length > REPLAY_CAP ? events[REPLAY_CAP]?.createdAt : undefined;
  const batch = events.slice(0, REPLAY_CAP);
  const deliveries = await ctx.store.withTransaction(async (tx) => {
    const enqueued: Array<{ delivery_id: string; event_id: string }> = [];
    for (const e of batch) enqueued.push({ delivery_id: await tx.events.enqueueDelivery(e.seq, merchantId, url), event_id: e.id });
    return enqueued;
  });
  return { deliveries, ...(more ? { more } : {}) };
}

function lastOutcome(d: DeliveryInfo): string {
  if (d.attempts === 0) return '-';
  return d.lastStatus === null ? (d.lastError ?? '-').slice(0, 40) : `HTTP ${d.lastStatus}`;
}

function deliveryView(d: DeliveryInfo) {
  return {
    id: d.id,
    event_id: d.eventId,
    event_type: d.eventType,
    merchant_id: d.merchantId,
    url: d.url,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? d.nextAttemptAt : null,
    give_up_at: d.giveUpAt,
    last_status: d.lastStatus,
    last_error: d.lastError,
    created_at: d.createdAt,
    delivered_at: d.deliveredAt,
  };
}
