import type { Command } from 'commander';
import { resolve } from 'node:path';
import { CallpayError, isCallpayError, PACK_IMPORT_ERROR_CODES, type ErrorCode } from '../../domain/errors.js';
import { LOCALES, parseLocale, type Locale } from '../../domain/locale.js';
import { LEVEL_RULES } from '../../ivr/audio-level.js';
import { checkPromptPack, describeIssue, describePack } from '../../ivr/prompt-check.js';
import { importPromptPack } from '../../ivr/packs/import.js';
import { parseFrom } from '../../ivr/packs/sound-sets.js';
import { SHIPPED_PROMPTS_DIR } from '../../ivr/prompts.js';
import { readConfig, type GlobalOptions } from '../../wiring/context.js';
import { CommandFailed } from '../exit.js';
import type { CliIo } from '../io.js';

const PACK_IMPORT_CODES: ReadonlySet<ErrorCode> = new Set(PACK_IMPORT_ERROR_CODES);

const CHECK_RULES = `Rules: every clip a call can need is in the manifest; each file is ${'8 kHz mono 16-bit PCM'}; none is silent (under ${LEVEL_RULES.minActiveMs} ms above -45 dBFS) or clipped (over ${LEVEL_RULES.maxClippedRuns} runs at full scale); each clip's active speech level is within ±${LEVEL_RULES.maxDeviationDb} dB of the pack's median.`;

/** The prompts root a command works on: --dir/--out, else ivr.promptsDir, else (check only) the shipped prompts. */
function promptsRoot(io: CliIo, cmd: Command, given: string | undefined, shippedFallback: boolean): string {
  if (given !== undefined) return resolve(io.cwd, given);
  const configured = readConfig(cmd.optsWithGlobals<GlobalOptions>(), { cwd: io.cwd, env: io.env }).ivr.promptsDir;
  if (configured !== null) return resolve(io.cwd, configured);
  if (shippedFallback) return SHIPPED_PROMPTS_DIR;
  throw new CallpayError('prompts_dir_unset', 'no --out and ivr.promptsDir is not set: choose where the pack goes (the import never writes into callpay\'s own prompts/)');
}

export function registerPrompts(program: Command, io: CliIo): void {
  const prompts = program.command('prompts').description('prompt packs: import a sound set, check clips');

  prompts
    .command('check')
    .description('check every clip a call can need in every locale: present, 8 kHz mono 16-bit, not silent or clipped, even loudness')
    .option('--locale <locale>', `one locale (${LOCALES.join(', ')}); default: all`)
    .option('--dir <dir>', 'prompts root (<dir>/<locale>/manifest.json); default: ivr.promptsDir, else the shipped prompts')
    .option('--json', 'machine-readable output')
    .addHelpText('after', `\n${CHECK_RULES}\nExit 0 when every pack passes, 1 otherwise. callpay doctor runs the same check.`)
    .action(async (opts: { locale?: string; dir?: string; json?: boolean }, cmd: Command) => {
      const locales: Locale[] = opts.locale === undefined ? [...LOCALES] : [parseLocale(opts.locale)];
      const root = promptsRoot(io, cmd, opts.dir, true);
      const reports = [];
      for (const locale of locales) reports.push(await checkPromptPack(root, locale));
      const ok = reports.every((r) => r.issues.length === 0);
      if (opts.json === true) io.stdout.write(`${JSON.stringify({ ok, dir: root, rules: LEVEL_RULES, packs: reports }, null, 2)}\n`);
      else {
        for (const r of reports) {
          io.stdout.write(`${r.issues.length === 0 ? 'ok  ' : 'FAIL'}  ${r.locale}  ${describePack(r)}\n`);
          for (const issue of r.issues) io.stdout.write(`      ${describeIssue(issue)}\n`);
        }
      }
      if (!ok) {
        const n = reports.reduce((sum, r) => sum + r.issues.length, 0);
        throw new CommandFailed(1, `prompts check: ${n} problem${n === 1 ? '' : 's'} [prompts_check_failed]`);
      }
    });

  prompts
    .command('import')
    .description('build a locale\'s prompt pack from an installed sound set (Asterisk core sounds, FreeSWITCH sounds)')
    .requiredOption('--locale <locale>', `the pack's locale (${LOCALES.join(', ')})`)
    .requiredOption('--from <set>', 'asterisk (Debian\'s asterisk-core-sounds-<lang>-wav), asterisk:DIR, or freeswitch:DIR (a voice directory, e.g. .../sounds/en/us/callie)')
    .option('--out <dir>', 'prompts root to write <dir>/<locale>/ into; default: ivr.promptsDir')
    .option('--licence <id>', 'the set\'s licence, when its copyright file cannot be read (FreeSWITCH sets)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nThe set\'s recordings replace generated clips of the same name; callpay\'s own sentences, words the set lacks and operator recordings are kept, and the manifest records which is which, the set\'s name and its licence. Other locales missing from the prompts root are copied from the shipped prompts. Point ivr.promptsDir at the root and restart callpay.')
    .action(async (opts: { locale: string; from: string; out?: string; licence?: string; json?: boolean }, cmd: Command) => {
      const locale = parseLocale(opts.locale);
      try {
        const from = parseFrom(opts.from, io.cwd);
        const outRoot = promptsRoot(io, cmd, opts.out, false);
        const r = await importPromptPack({ locale, from, outRoot, shippedDir: SHIPPED_PROMPTS_DIR, ...(opts.licence ? { licence: opts.licence } : {}) });
        if (opts.json === true) {
          io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
          return;
        }
        io.stdout.write(`${locale}: ${r.imported.length} clips from ${r.set.name} (${r.set.dir}), licence ${r.set.licence}${r.set.copyright ? `, © ${r.set.copyright}` : ''}\n`);
        io.stdout.write(`  kept ${r.kept.length} clips the set lacks (${r.kept.filter((k) => k.kept === 'recording').length} operator recordings): ${r.kept.map((k) => k.clip).join(', ')}\n`);
        if (r.gainDb !== 0) io.stdout.write(`  levelled the set by ${r.gainDb > 0 ? '+' : ''}${r.gainDb} dB to match the kept clips\n`);
        if (r.seeded.length > 0) io.stdout.write(`  copied the shipped ${r.seeded.join(', ')} prompts into ${outRoot} (ivr.promptsDir needs every locale)\n`);
        io.stdout.write(`written to ${r.dir}; set ivr.promptsDir to ${outRoot} and restart callpay\n`);
      } catch (e) {
        // The import's own refusals read as the command's; others (a bad config file) as main() prints them.
        if (isCallpayError(e) && PACK_IMPORT_CODES.has(e.code)) throw new CommandFailed(1, `prompts import: ${e.message} [${e.code}]`);
        throw e;
      }
    });
}
