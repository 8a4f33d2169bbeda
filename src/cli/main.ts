import { Command, CommanderError, Option } from 'commander';
import { isCallpayError } from '../domain/errors.js';
import { CommandFailed } from './exit.js';
import { LOG_LEVELS } from '../config/schema.js';
import { processIo, type CliIo } from './io.js';
import { VERSION } from '../version.js';
import { registerInit } from './commands/init.js';
import { registerConsumer } from './commands/consumer.js';
import { registerAccount } from './commands/account.js';
import { registerMerchant } from './commands/merchant.js';
import { registerMerchantQr } from './commands/qr.js';
import { registerServe } from './commands/serve.js';
import { registerCall } from './commands/call.js';
import { registerBill } from './commands/bill.js';
import { registerWebhook } from './commands/webhook.js';
import { registerBackup } from './commands/backup.js';
import { registerAudit } from './commands/audit.js';
import { registerFraud } from './commands/fraud.js';
import { registerDoctor } from './commands/doctor.js';
import { registerPrompts } from './commands/prompts.js';
import { registerKey } from './commands/key.js';
import { registerStore } from './commands/store.js';

export const EXIT = { ok: 0, error: 1, usage: 2, internal: 3 } as const;

export function buildProgram(io: CliIo): Command {
  const program = new Command('callpay')
    .description('Payment authorization by phone call and DTMF PIN, billed to the carrier account')
    .version(VERSION)
    .option('-c, --config <file>', 'configuration file (default: $CALLPAY_CONFIG, else ./callpay.json if present)')
    .addOption(new Option('--log-level <level>', 'log level on standard error for this command').choices([...LOG_LEVELS]))
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  registerInit(program, io);
  registerConsumer(program, io);
  registerAccount(program, io);
  registerMerchant(program, io);
  registerMerchantQr(program, io);
  registerServe(program, io);
  registerCall(program, io);
  registerBill(program, io);
  registerWebhook(program, io);
  registerBackup(program, io);
  registerAudit(program, io);
  registerFraud(program, io);
  registerDoctor(program, io);
  registerPrompts(program, io);
  registerKey(program, io);
  registerStore(program, io);
  // Subcommands inherit the output/exit behaviour so a usage error never calls process.exit.
  for (const cmd of allCommands(program)) {
    cmd.exitOverride().configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  }
  return program;
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** Runs the CLI and returns the exit code; never calls process.exit (tests run it in-process). */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      const benign = ['commander.helpDisplayed', 'commander.version', 'commander.help'];
      return benign.includes(e.code) || e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (isCallpayError(e)) {
      io.stderr.write(`callpay: ${e.message} [${e.code}]\n`);
      return EXIT.error;
    }
    if (e instanceof CommandFailed) {
      io.stderr.write(`callpay: ${e.message}\n`);
      return e.exitCode;
    }
    // Unknown failures may carry internal detail; say little and point at the log level.
    io.stderr.write(`callpay: internal error (${e instanceof Error ? e.name : 'unknown'}); rerun with --log-level debug\n`);
    if (program.opts<{ logLevel?: string }>().logLevel === 'debug') io.stderr.write(`${String(e)}\n`);
    return EXIT.internal;
  }
}
