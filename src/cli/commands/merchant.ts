import { InvalidArgumentError, type Command } from 'commander';
import { parseDisplayName, parseWebhookUrl } from '../../domain/merchant.js';
import { CallpayError } from '../../domain/errors.js';
import { merchantView } from '../views.js';
import { columns, table } from '../output.js';
import { withApp, parseLimit } from './shared.js';
import type { CliIo } from '../io.js';
import type { AppContext } from '../../wiring/context.js';
import type { Output } from '../output.js';
import { checkRecording, provideMerchantVoice, type VoiceResult } from '../../admin/merchant-voice.js';

const KEY_WARNING = 'Store this API key now: callpay keeps only its hash and cannot show it again.';
const SECRET_WARNING = 'Give the webhook secret to the merchant now: it verifies Callpay-Signature and is not shown again.';

export function registerMerchant(program: Command, io: CliIo): void {
  const merchant = program.command('merchant').description('enrol and manage merchants (who ask for payments)');

  merchant
    .command('add')
    .description('enrol a merchant and issue its first API key and webhook signing secret (both shown once)')
    .requiredOption('--name <name>', 'display name shown on checkout pages')
    .option('--spoken-name <text>', 'name as announced on the call (default: the display name)')
    .option('--webhook-url <url>', 'where signed payment events are POSTed')
    .option('--voice <file>', 'recording of the spoken name (8 kHz mono 16-bit WAV); default: synthesized with espeak-ng if installed')
    .option('--json', 'machine-readable output')
    .action((opts: { name: string; spokenName?: string; webhookUrl?: string; voice?: string }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, audited }) => {
        const displayName = parseDisplayName(opts.name);
        const spokenName = opts.spokenName === undefined ? displayName : parseDisplayName(opts.spokenName, 'spoken-name');
        const webhookUrl = opts.webhookUrl === undefined ? null : parseWebhookUrl(opts.webhookUrl);
        if (opts.voice !== undefined) await checkRecording(opts.voice);
        // One transaction: a merchant never exists without its first webhook secret.
        const { merchant: m, key, webhookSecret } = await audited('merchant.add', async (tx) => {
          const added = await tx.merchants.add({ displayName, spokenName, webhookUrl });
          return { ...added, webhookSecret: await tx.webhookSecrets.create(added.merchant.id) };
        }, (r) => ({ subject: r.merchant.id, details: { api_key_id: r.key.keyId } }));
        ctx.log.info({ merchantId: m.id, keyId: key.keyId }, 'merchant enrolled');
        const voice = await giveVoice(ctx, out, m.id, spokenName, opts.voice);
        out.result({ ...merchantView(m), voice_clip: voice.path, voice_source: voice.source, api_key: key.apiKey, api_key_id: key.keyId, webhook_secret: webhookSecret }, () =>
          [
            table([['merchant', m.id], ['name', m.displayName], ['api key', key.apiKey], ['webhook secret', webhookSecret]]),
            KEY_WARNING,
            SECRET_WARNING,
          ].join('\n'),
        );
      }),
    );

  merchant
    .command('set-voice')
    .description("replace a merchant's spoken-name clip with a recording (8 kHz mono 16-bit WAV), or synthesize it again")
    .argument('<merchant>', 'merchant id')
    .option('--voice <file>', 'the recording; without it the spoken name is synthesized with espeak-ng')
    .option('--json', 'machine-readable output')
    .action((id: string, opts: { voice?: string }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, audited }) => {
        const m = await ctx.store.merchants.get(id);
        const voice = await giveVoice(ctx, out, m.id, m.spokenName, opts.voice);
        await audited('merchant.set_voice', async () => undefined, { subject: m.id, details: { source: voice.source } });
        out.result({ id: m.id, voice_clip: voice.path, voice_source: voice.source }, () => `${m.id} spoken name: ${voice.source}`);
      }),
    );

  merchant
    .command('list')
    .description('list merchants')
    .option('--limit <n>', 'at most this many (1-1000)', parseLimit, 100)
    .option('--after <id>', 'start after this merchant id (pagination)')
    .option('--json', 'machine-readable output')
    .action((opts: { limit: number; after?: string }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        const list = await ctx.store.merchants.list({ limit: opts.limit, ...(opts.after ? { after: opts.after } : {}) });
        out.result(list.map((m) => merchantView(m)), () =>
          list.length === 0
            ? 'no merchants'
            : columns([['ID', 'STATUS', 'NAME', 'WEBHOOK'], ...list.map((m) => [m.id, m.status, m.displayName, m.webhookUrl ?? '-'])]),
        );
      }),
    );

  merchant
    .command('show')
    .description('show a merchant and its API keys (hints only)')
    .argument('<merchant>', 'merchant id (mer_…)')
    .option('--json', 'machine-readable output')
    .action((id: string, _opts: unknown, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        const view = merchantView(await ctx.store.merchants.get(id), await ctx.store.merchants.keys(id));
        out.result(view, () =>
          [
            table([['merchant', view.id], ['name', view.name], ['spoken name', view.spoken_name], ['status', view.status], ['webhook', view.webhook_url ?? '-'], ['created', view.created_at]]),
            'api keys',
            ...(view.api_keys ?? []).map((k) => `  ${k.id}  ${k.hint}  ${k.revoked_at ? `revoked ${k.revoked_at}` : 'active'}`),
          ].join('\n'),
        );
      }),
    );

  merchant
    .command('rotate-key')
    .description('issue a new API key (shown once); old keys stay valid unless --revoke-others')
    .argument('<merchant>', 'merchant id')
    .option('--revoke-others', 'revoke every other key of this merchant now')
    .option('--json', 'machine-readable output')
    .action((id: string, opts: { revokeOthers?: boolean }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, audited }) => {
        const key = await audited('merchant.rotate_key', (tx) => tx.merchants.rotateKey(id, { revokeOthers: opts.revokeOthers === true }), (k) => ({
          subject: id, details: { api_key_id: k.keyId, revoked_others: opts.revokeOthers === true },
        }));
        ctx.log.info({ merchantId: id, keyId: key.keyId, revokedOthers: opts.revokeOthers === true }, 'merchant API key issued');
        out.result({ id, api_key: key.apiKey, api_key_id: key.keyId }, () => [table([['merchant', id], ['api key', key.apiKey]]), KEY_WARNING].join('\n'));
      }),
    );

  merchant
    .command('rotate-webhook-secret')
    .description('issue a new webhook signing secret (shown once); the old one keeps verifying for --overlap-hours')
    .argument('<merchant>', 'merchant id')
    .option('--overlap-hours <n>', 'hours the previous secret stays valid (default: webhooks.rotationOverlapHours)', parseHours)
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nDuring the overlap every webhook carries one v1= signature per valid secret, so the merchant can\n' +
        'deploy the new secret at any time within it. --overlap-hours 0 ends the old secret now.',
    )
    .action((id: string, opts: { overlapHours?: number }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out, audited }) => {
        const overlap = opts.overlapHours ?? ctx.config.webhooks.rotationOverlapHours;
        const secret = await audited('merchant.rotate_webhook_secret', (tx) => tx.webhookSecrets.rotate(id, overlap), { subject: id, details: { overlap_hours: overlap } });
        const until = new Date(Date.now() + overlap * 3_600_000).toISOString();
        ctx.log.info({ merchantId: id, overlapHours: overlap }, 'merchant webhook secret rotated');
        out.result({ id, webhook_secret: secret, previous_valid_until: until }, () =>
          [table([['merchant', id], ['webhook secret', secret], ['old secret valid until', until]]), SECRET_WARNING].join('\n'),
        );
      }),
    );

  for (const [name, to] of [['disable', 'disabled'], ['enable', 'active']] as const) {
    merchant
      .command(name)
      .description(name === 'disable' ? 'stop a merchant from taking payments (its keys are refused)' : 'let a disabled merchant take payments again')
      .argument('<merchant>', 'merchant id')
      .option('--json', 'machine-readable output')
      .action((id: string, _opts: unknown, cmd: Command) =>
        withApp(io, cmd, async ({ ctx, out, audited }) => {
          const m = await ctx.store.merchants.get(id);
          if (m.status === to) throw new CallpayError('invalid_state', `merchant: ${id} is already ${to}`, 'merchant');
          const updated = await audited(`merchant.${name}`, (tx) => tx.merchants.setStatus(id, to), { subject: id, details: { from: m.status, to } });
          ctx.log.info({ merchantId: id, to }, `merchant ${name}d`);
          out.result(merchantView(updated), () => `${id} is now ${to}`);
        }),
      );
  }
}

function parseHours(input: string): number {
  if (!/^\d{1,3}$/.test(input) || Number(input) > 720) throw new InvalidArgumentError('expected a whole number of hours from 0 to 720');
  return Number(input);
}

/** Provides the clip and records it; warns the operator when calls will have to say "a merchant". */
async function giveVoice(ctx: AppContext, out: Output, merchantId: string, spokenName: string, recording: string | undefined): Promise<VoiceResult> {
  const locale = ctx.config.locale;
  const voice = await provideMerchantVoice({ merchantId, spokenName, recording, locale, databasePath: ctx.config.database });
  await ctx.store.merchants.setVoiceClip(merchantId, voice.path);
  if (voice.path === null) {
    out.note(`warning: ${merchantId} has no spoken name: calls will say "a merchant". Install espeak-ng and run "callpay merchant set-voice ${merchantId}", or give a recording with --voice.`);
    ctx.log.warn({ merchantId }, 'merchant has no spoken-name clip');
  }
  return voice;
}
