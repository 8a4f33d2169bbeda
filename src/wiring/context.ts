import type { DestinationStream } from 'pino';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { loadMasterKey } from '../crypto/master-key.js';
import { Keyring } from '../crypto/keyring.js';
import { createSecretHasher, type SecretHasher } from '../crypto/secret-hasher.js';
import { createLogger, type Logger } from '../log.js';
import type { ConsumerAdminDeps } from '../admin/consumers.js';
import type { Store } from '../payments/repositories.js';
import { openStore } from './stores.js';
import { systemClock, type Clock } from '../domain/clock.js';

export interface GlobalOptions {
  config?: string;
  logLevel?: string;
}

export interface Environment {
  cwd: string;
  env: NodeJS.ProcessEnv;
  logDestination?: DestinationStream;
  /** The time every part reads (tests move it); the system clock when absent. */
  clock?: Clock;
}

/** Everything a command needs, built once: config, log, key, hasher and the store. */
export interface AppContext {
  config: Config;
  log: Logger;
  clock: Clock;
  keyring: Keyring;
  hasher: SecretHasher;
  store: Store;
  consumerAdmin: ConsumerAdminDeps;
  close(): Promise<void>;
}

export function readConfig(opts: GlobalOptions, where: Environment): Config {
  return loadConfig({ cwd: where.cwd, env: where.env, ...(opts.config ? { configPath: opts.config } : {}) });
}

/**
 * The current master key (keyFile or CALLPAY_MASTER_KEY) and, during a key rotation, the previous
 * ones (previousKeyFiles), each checked like the key file. The raw keys are wiped once derived.
 */
export async function loadKeyring(config: Config, env: NodeJS.ProcessEnv): Promise<Keyring> {
  const current = await loadMasterKey({ keyFile: config.keyFile, env });
  const previous: Uint8Array[] = [];
  try {
    for (const keyFile of config.previousKeyFiles) previous.push(await loadMasterKey({ keyFile, env: {} }));
    return await Keyring.fromMasterKey(current, previous);
  } finally {
    for (const key of [current, ...previous]) key.fill(0);
  }
}

/**
 * Order matters: config, then the key, then the database. A missing or insecure key stops the
 * command before the database file is even created.
 */
export async function openContext(opts: GlobalOptions, where: Environment): Promise<AppContext> {
  const config = readConfig(opts, where);
  const log = createLogger({
    level: opts.logLevel ?? 'warn',
    ...(where.logDestination ? { destination: where.logDestination } : {}),
  });
  const keyring = await loadKeyring(config, where.env);
  const clock = where.clock ?? systemClock;
  const store = await openStore(config, keyring, clock);
  const hasher = createSecretHasher(keyring, config.argon2);
  return {
    config,
    log,
    clock,
    keyring,
    hasher,
    store,
    consumerAdmin: { consumers: store.consumers, hasher, defaultLocale: config.locale },
    async close() {
      await hasher.close();
      await store.close();
    },
  };
}
