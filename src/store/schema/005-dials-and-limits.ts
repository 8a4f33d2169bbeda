/**
 * Every dial attempt, for the toll-fraud caps: who was called (consumer, and the number by its blind
 * index, never the number), for which merchant, when. Written before the INVITE goes out, in the
 * transaction that checked the caps, so concurrent payments cannot all slip under a cap.
 *
 * Attempt limits of the checkout pages (logins, passwords, payment-QR use per login or client
 * address), kept here so a restart does not forgive them; keys are keyed hashes, never the login or
 * the address itself.
 */
export const DIALS_AND_LIMITS_SQL = `
  CREATE TABLE dials (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id    TEXT NOT NULL REFERENCES payments (id),
    attempt       INTEGER NOT NULL CHECK (attempt >= 1),
    consumer_id   TEXT NOT NULL REFERENCES consumers (id),
    merchant_id   TEXT NOT NULL REFERENCES merchants (id),
    number_index  BLOB NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (payment_id, attempt)
  ) STRICT;
  CREATE INDEX dials_consumer ON dials (consumer_id, created_at);
  CREATE INDEX dials_merchant ON dials (merchant_id, created_at);
  CREATE INDEX dials_number ON dials (number_index, created_at);

  CREATE TABLE attempt_limits (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    scope       TEXT NOT NULL,
    key_hash    BLOB NOT NULL,
    created_at  TEXT NOT NULL
  ) STRICT;
  CREATE INDEX attempt_limits_key ON attempt_limits (scope, key_hash, created_at);
`;
