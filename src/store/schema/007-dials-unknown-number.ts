/**
 * A dial's number is kept only as its blind index, so a key rotation can re-key it only while the
 * consumer still has that number. One it cannot re-derive keeps NULL ("no longer known"): the dial
 * still counts toward the consumer's and the merchant's caps, not toward any number's.
 * SQLite cannot drop NOT NULL in place; nothing references dials, so a plain rebuild does.
 */
export const DIALS_UNKNOWN_NUMBER_SQL = `
  CREATE TABLE dials_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id    TEXT NOT NULL REFERENCES payments (id),
    attempt       INTEGER NOT NULL CHECK (attempt >= 1),
    consumer_id   TEXT NOT NULL REFERENCES consumers (id),
    merchant_id   TEXT NOT NULL REFERENCES merchants (id),
    number_index  BLOB,
    created_at    TEXT NOT NULL,
    UNIQUE (payment_id, attempt)
  ) STRICT;
  INSERT INTO dials_new (id, payment_id, attempt, consumer_id, merchant_id, number_index, created_at)
    SELECT id, payment_id, attempt, consumer_id, merchant_id, number_index, created_at FROM dials;
  DROP TABLE dials;
  ALTER TABLE dials_new RENAME TO dials;
  CREATE INDEX dials_consumer ON dials (consumer_id, created_at);
  CREATE INDEX dials_merchant ON dials (merchant_id, created_at);
  CREATE INDEX dials_number ON dials (number_index, created_at);
`;
