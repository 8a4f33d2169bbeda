import type { FieldCrypto } from '../field-crypto.js';
import type { Clock } from '../../domain/clock.js';

/**
 * What every PostgreSQL repository is built from besides its connection: the same inputs the SQLite
 * repositories take. Each repository is `new PgXRepository(q, deps)`, where `q` is the pool (a
 * statement outside any transaction) or one transaction's client (PgTx).
 */
export interface PgRepoDeps {
  /** Seals personal data and builds blind indexes; the key never reaches the database. */
  crypto: FieldCrypto;
  clock: Clock;
  /** The billing cycle a transfer written at `at` belongs to. */
  cycleOf(at: Date): string;
  /** How long webhook deliveries are retried before giving up. */
  webhookRetryForHours: number;
}
