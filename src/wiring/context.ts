import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { loadMasterKey } from '../crypto/master-key.js';
import { Keyring } from '../crypto/keyring.js';
import { createSecretHasher, type SecretHasher } from '../crypto/secret-hasher.js';

import { openDatabase, type Db } from '../store/db.js';
import { checkKeyMatches } from '../store/key-check.js';
import { ConsumerRepository } from '../store/consumers.js';
import { AccountRepository } from '../store/accounts.js';
import { MerchantRepository } from '../store/merchants.js';
import { Ledger } from '../store/ledger.js';
import { EventRepository } from '../store/events.js';
import { WebhookSecretRepository } from '../store/webhook-secrets.js';
import { cycleOf } from '../domain/billing.js';
import type { DestinationStream } from 'pino';
import { createLogger, type Logger } from '../log.js';
import type { ConsumerAdminDeps } from '../admin/consumers.js';
import { systemClock } from '../domain/clock.js';

export interface GlobalOptions {
  config?: string;
  logLevel?: string;
}

export interface Environment {
  cwd: string;
  env: NodeJS.ProcessEnv;
  logDestination?: DestinationStream;
}

/** Everything a command needs, wired once: the composition root of the CLI. */
export interface AppContext {
  config: Config;
  log: Logger;
  db: Db;
  keyring: Keyring;
  hasher: SecretHasher;
  consumers: ConsumerRepository;
  accounts: AccountRepository;
  merchants: MerchantRepository;
  ledger: Ledger;
  events: EventRepository;
  webhookSecrets: WebhookSecretRepository;
  consumerAdmin: ConsumerAdminDeps;
  close(): Promise<void>;
}

export function readConfig(opts: GlobalOptions, where: Environment): Config {
  return loadConfig({ cwd: where.cwd, env: where.env, ...(opts.config ? { configPath: opts.config } : {}) });
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
  const master = await loadMasterKey({ keyFile: config.keyFile, env: where.env });
  const keyring = await Keyring.fromMasterKey(master);
  master.fill(0);
  const db = openDatabase(config.database);
  try {
    checkKeyMatches(db, keyring);
  } catch (e) {
    db.close();
    throw e;
  }
  const hasher = createSecretHasher(keyring, config.argon2);
  const consumers = new ConsumerRepository(db, keyring, systemClock);
  const { closingDay, timeZone } = config.billing;
  const ledger = new Ledger(db, systemClock, (at) => cycleOf(at, closingDay, timeZone));
  return {
    config,
    log,
    db,
    keyring,
    hasher,
    consumers,
    accounts: new AccountRepository(db, keyring, systemClock, ledger),
    ledger,
    merchants: new MerchantRepository(db, keyring, systemClock),
    events: new EventRepository(db, systemClock, config.webhooks.retryForHours),
    webhookSecrets: new WebhookSecretRepository(db, keyring, systemClock),
    consumerAdmin: { consumers, hasher, defaultLocale: config.locale },
    async close() {
      await hasher.close();
      db.close();
    },
  };
}
