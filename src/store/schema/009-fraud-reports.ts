/**
 * Fraud reported on calls (issue 16, item 1): one row per payment the consumer reported by keying 0,
 * counted per merchant in a rolling window (config risk.fraudReports), and the consumers whose
 * frictionless allowance a report locked until an operator (or the consumer) turns it back on. A
 * table of its own rather than a consumers column: consumers is rebuilt by migrations that change
 * its constraints, and a lock must survive them.
 */
export const FRAUD_REPORTS_SQL = `
  CREATE TABLE fraud_reports (
    payment_id   TEXT PRIMARY KEY REFERENCES payments (id),
    merchant_id  TEXT NOT NULL REFERENCES merchants (id),
    consumer_id  TEXT NOT NULL REFERENCES consumers (id),
    amount       INTEGER NOT NULL CHECK (amount > 0),
    currency     TEXT NOT NULL,
    reported_at  TEXT NOT NULL
  ) STRICT;
  CREATE INDEX fraud_reports_merchant ON fraud_reports (merchant_id, reported_at);
  CREATE INDEX fraud_reports_time ON fraud_reports (reported_at);

  CREATE TABLE allowance_locks (
    consumer_id  TEXT PRIMARY KEY REFERENCES consumers (id),
    reason       TEXT NOT NULL,
    payment_id   TEXT REFERENCES payments (id),
    locked_at    TEXT NOT NULL
  ) STRICT;
`;
