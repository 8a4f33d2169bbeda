/**
 * Call attempts (one CDR per dial: never the digits, never the number) and wrong-PIN counting
 * across calls for the lockout. Merchants gain an optional recorded or synthesized name clip.
 */
export const CALLS_SQL = `
  CREATE TABLE call_attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id    TEXT NOT NULL REFERENCES payments (id),
    attempt       INTEGER NOT NULL CHECK (attempt >= 1),
    call_id       TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    answered_at   TEXT,
    ended_at      TEXT,
    outcome       TEXT NOT NULL,
    sip_status    INTEGER,
    reason        TEXT,
    digit_count   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (payment_id, attempt)
  ) STRICT;

  CREATE TABLE pin_failures (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    consumer_id  TEXT NOT NULL REFERENCES consumers (id),
    payment_id   TEXT REFERENCES payments (id),
    created_at   TEXT NOT NULL
  ) STRICT;
  CREATE INDEX pin_failures_consumer ON pin_failures (consumer_id, created_at);

  ALTER TABLE merchants ADD COLUMN voice_clip TEXT;
`;
