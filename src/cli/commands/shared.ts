import { InvalidArgumentError, type Command } from 'commander';
import { openContext, type AppContext, type GlobalOptions } from '../../wiring/context.js';
import { createOutput, type Output } from '../output.js';
import { createSecretSource, type SecretSource } from '../secrets.js';
import type { CliIo } from '../io.js';

export interface CommandKit {
  ctx: AppContext;
  out: Output;
  secrets: SecretSource;
}

/** Opens the app for one command, runs it, and always closes the database and workers. */
export async function withApp(io: CliIo, cmd: Command, run: (kit: CommandKit) => Promise<void>): Promise<void> {
  const globals = cmd.optsWithGlobals<GlobalOptions & { json?: boolean }>();
  const ctx = await openContext(globals, {
    cwd: io.cwd,
    env: io.env,
    ...(io.logDestination ? { logDestination: io.logDestination } : {}),
  });
  try {
    await run({ ctx, out: createOutput(io.stdout, io.stderr, globals.json === true), secrets: createSecretSource(io.stdin, io.stderr) });
  } finally {
    await ctx.close();
  }
}

/** commander coerces nothing; limits arrive as text and are checked here. */
export function parseLimit(input: string): number {
  if (!/^\d{1,4}$/.test(input) || Number(input) < 1 || Number(input) > 1000) {
    throw new InvalidArgumentError('expected a whole number from 1 to 1000');
  }
  return Number(input);
}
