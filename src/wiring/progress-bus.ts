import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { ProgressHub } from '../payments/progress.js';
import type { Store } from '../payments/repositories.js';
import { PgStore } from '../store/pg/pg-store.js';
import { startPgProgressBus, type ProgressBus } from '../store/pg/progress-bus.js';
import { postgresUrl } from './stores.js';

/**
 * Call progress shared between the nodes of one store: on PostgreSQL through LISTEN/NOTIFY; on SQLite
 * (one node) there is nothing to share.
 */
export function startProgressBus(o: { config: Config; store: Store; node: string; hub: ProgressHub; log: Logger }): ProgressBus | null {
  if (!(o.store instanceof PgStore)) return null;
  return startPgProgressBus({ url: postgresUrl(o.config), pool: o.store.pool, node: o.node, hub: o.hub, log: o.log.child({ part: 'progress-bus' }) });
}
