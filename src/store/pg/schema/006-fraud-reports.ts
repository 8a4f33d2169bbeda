import { TEXT } from './text.js';

/** Fraud reports and frictionless-allowance locks: the same tables as SQLite's migration 009. */
export const PG_FRAUD_REPORTS_SQL = `
  CREATE TABLE fraud_reports (
    payment_id   ${TEXT} PRIMARY KEY REFERENCES payments (id),
    merchant_id  ${TEXT} NOT NULL REFERENCES merchants (id),
    consumer_id  ${TEXT} NOT NULL REFERENCES consumers (id),
    amount       BIGINT NOT NULL CHECK (amount > 0),
    currency     ${TEXT} NOT NULL,
    reported_at  ${TEXT} NOT NULL
  );
  CREATE INDEX fraud_reports_merchant ON fraud_reports (merchant_id, reported_at);
  CREATE INDEX fraud_reports_time ON fraud_reports (reported_at);

  CREATE TABLE allowance_locks (
    consumer_id  ${TEXT} PRIMARY KEY REFERENCES consumers (id),
    reason       ${TEXT} NOT NULL,
    payment_id   ${TEXT} REFERENCES payments (id),
    locked_at    ${TEXT} NOT NULL
  );
`;
