import { TEXT } from './text.js';

/**
 * Call ownership: a call belongs to the node that placed it while that node renews its lease; after
 * the lease runs out another node recovers the payment (src/payments/service.ts recover). The same
 * columns as SQLite's migration 008.
 */
export const PG_CALL_LEASES_SQL = `
  ALTER TABLE payments ADD COLUMN call_node ${TEXT};
  ALTER TABLE payments ADD COLUMN call_lease_until ${TEXT};
  CREATE INDEX payments_calling_lease ON payments (call_lease_until) WHERE status = 'calling';
`;
