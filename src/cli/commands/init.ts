import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { createKeyFile } from '../../crypto/master-key.js';
import { readConfig, openContext, type GlobalOptions } from '../../wiring/context.js';
import { createOutput } from '../output.js';
import type { CliIo } from '../io.js';

export function registerInit(program: Command, io: CliIo): void {
  program
    .command('init')
    .description('create the master key file (mode 0600) and the database, if they do not exist yet')
    .option('--json', 'machine-readable output')
    .action(async (_opts: unknown, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions & { json?: boolean }>();
      const where = { cwd: io.cwd, env: io.env, ...(io.logDestination ? { logDestination: io.logDestination } : {}) };
      const config = readConfig(globals, where);
      const usesEnvKey = io.env.CALLPAY_MASTER_KEY !== undefined;
      let keyCreated = false;
      if (!usesEnvKey && !existsSync(config.keyFile)) {
        await createKeyFile(config.keyFile);
        keyCreated = true;
      }
      const databaseCreated = !existsSync(config.database);
      const ctx = await openContext(globals, where);
      await ctx.close();
      const out = createOutput(io.stdout, io.stderr, globals.json === true);
      const keySource = usesEnvKey ? 'CALLPAY_MASTER_KEY' : config.keyFile;
      out.result(
        { key: keySource, key_created: keyCreated, database: config.database, database_created: databaseCreated },
        () =>
          [
            `key       ${keySource} (${usesEnvKey ? 'from the environment' : keyCreated ? 'created, mode 0600' : 'exists, kept'})`,
            `database  ${config.database} (${databaseCreated ? 'created' : 'exists, migrated'})`,
            keyCreated ? 'Back up the key file: without it the sealed data cannot be read.' : '',
          ].filter(Boolean).join('\n'),
      );
    });
}
