import type { Config } from '../config/schema.js';
import type { Keyring } from '../crypto/keyring.js';
import { cycleOf } from '../domain/billing.js';
import { systemClock, type Clock } from '../domain/clock.js';
import type { Store } from '../payments/repositories.js';
import { openSqliteStore } from '../store/sqlite-store.js';

/** What a store implementation is built from. */
export interface StoreFactoryDeps {
  config: Config;
  keyring: Keyring;
  clock: Clock;
}

/**
 * Store implementations by driver. SQLite is the embedded default; a networked store (PostgreSQL,
 * for several nodes) is one more entry here and a config section, nothing else.
 */
export const STORES: Record<string, (d: StoreFactoryDeps) => Store> = {
  sqlite: ({ config, keyring, clock }) =>
    openSqliteStore({
      path: config.database,
      crypto: keyring,
      clock,
      cycleOf: (at) => cycleOf(at, config.billing.closingDay, config.billing.timeZone),
      webhookRetryForHours: config.webhooks.retryForHours,
    }),
};

export function openStore(config: Config, keyring: Keyring, clock: Clock = systemClock): Store {
  const factory = STORES.sqlite;
  if (!factory) throw new Error('no sqlite store registered');
  return factory({ config, keyring, clock });
}
