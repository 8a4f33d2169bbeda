import type { Config } from '../config/schema.js';
import type { Keyring } from '../crypto/keyring.js';
import { cycleOf } from '../domain/billing.js';
import { systemClock, type Clock } from '../domain/clock.js';
import { CallpayError } from '../domain/errors.js';
import type { Store } from '../payments/repositories.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import { openPgStore } from '../store/pg/pg-store.js';
import { optionalSecretSetting } from './secret-setting.js';

/** What a store implementation is built from. */
export interface StoreFactoryDeps {
  config: Config;
  keyring: Keyring;
  clock: Clock;
}

/** store.url with the password from store.password / CALLPAY_STORE_PASSWORD / store.passwordFile, if any. */
export function postgresUrl(config: Config): string {
  const { url, password, passwordFile } = config.store;
  if (url === null) throw new CallpayError('config_invalid', 'store.url: null, expected a postgres:// URL for store.driver "postgres"', 'store.url');
  const secret = optionalSecretSetting(password, passwordFile, 'store.password');
  if (secret === null) return url;
  const withPassword = new URL(url);
  withPassword.password = encodeURIComponent(secret);
  return withPassword.toString();
}

/**
 * Store implementations by driver: SQLite embedded (one node, the `database` file), PostgreSQL for
 * several nodes sharing one database (store.url).
 */
export const STORES: Record<Config['store']['driver'], (d: StoreFactoryDeps) => Promise<Store>> = {
  sqlite: async ({ config, keyring, clock }) =>
    openSqliteStore({
      path: config.database,
      crypto: keyring,
      clock,
      cycleOf: (at) => cycleOf(at, config.billing.closingDay, config.billing.timeZone),
      webhookRetryForHours: config.webhooks.retryForHours,
    }),
  postgres: ({ config, keyring, clock }) =>
    openPgStore({
      url: postgresUrl(config),
      poolMax: config.store.poolMax,
      deps: {
        crypto: keyring,
        clock,
        cycleOf: (at) => cycleOf(at, config.billing.closingDay, config.billing.timeZone),
        webhookRetryForHours: config.webhooks.retryForHours,
      },
    }),
};

export function openStore(config: Config, keyring: Keyring, clock: Clock = systemClock): Promise<Store> {
  return STORES[config.store.driver]({ config, keyring, clock });
}
