import type { Command } from 'commander';
import { openContext, readConfig, type GlobalOptions } from '../../wiring/context.js';
import { startDaemon } from '../../wiring/daemon.js';
import type { CliIo } from '../io.js';

export function registerServe(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('run the daemon: merchant HTTP API, call engine, expiry sweeper and webhook dispatcher (SIGTERM stops it gracefully)')
    .action(async (_opts: unknown, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const where = { cwd: io.cwd, env: io.env, ...(io.logDestination ? { logDestination: io.logDestination } : {}) };
      const config = readConfig(globals, where);
      const ctx = await openContext({ ...globals, logLevel: globals.logLevel ?? config.log.level }, where);
      try {
        const daemon = await startDaemon(ctx, io.hooks ? { hooks: io.hooks } : {});
        io.stderr.write(`callpay serving on ${daemon.url}\n`);
        await new Promise<void>((resolve) => {
          const stop = (signal: NodeJS.Signals) => {
            ctx.log.info({ signal }, 'stopping: no new requests; finishing calls and deliveries');
            process.off('SIGTERM', stop);
            process.off('SIGINT', stop);
            resolve();
          };
          process.on('SIGTERM', stop);
          process.on('SIGINT', stop);
        });
        await daemon.stop();
      } finally {
        await ctx.close();
      }
    });
}
