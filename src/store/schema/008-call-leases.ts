/**
 * Call ownership (issue 14): a call belongs to the node that placed it, for as long as that node keeps
 * renewing its lease. Another node (PostgreSQL, several nodes) recovers the payment only once the
 * lease has run out. On SQLite there is one node; the columns keep the stores alike.
 */
export const CALL_LEASES_SQL = `
  ALTER TABLE payments ADD COLUMN call_node TEXT;
  ALTER TABLE payments ADD COLUMN call_lease_until TEXT;
`;
