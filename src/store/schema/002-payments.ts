/**
 * The money half. The ledger follows TigerBeetle's model: accounts with four running sums, and
 * immutable transfers; a hold is a pending transfer, later posted or voided by another transfer.
 * Triggers keep transfers, transitions and events append-only. Unique indexes make every posting
 * idempotent: one hold per payment, one post-or-void per hold.
 */
export const PAYMENTS_SQL = `
  CREATE TABLE ledger_accounts (
    id                   TEXT PRIMARY KEY,
    code                 TEXT NOT NULL CHECK (code IN ('consumer', 'merchant', 'carrier_topups')),
    billable_account_id  TEXT UNIQUE REFERENCES billable_accounts (id),
    merchant_id          TEXT REFERENCES merchants (id),
    currency             TEXT NOT NULL,
    debits_pending       INTEGER NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted        INTEGER NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending      INTEGER NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted       INTEGER NOT NULL DEFAULT 0 CHECK (credits_posted >= 0)
  ) STRICT;
  CREATE UNIQUE INDEX ledger_accounts_merchant ON ledger_accounts (merchant_id, currency) WHERE code = 'merchant';
  CREATE UNIQUE INDEX ledger_accounts_topups ON ledger_accounts (currency) WHERE code = 'carrier_topups';

  CREATE TABLE payments (
    id                   TEXT PRIMARY KEY,
    merchant_id          TEXT NOT NULL REFERENCES merchants (id),
    amount               INTEGER NOT NULL CHECK (amount > 0),
    currency             TEXT NOT NULL,
    reference            TEXT NOT NULL,
    description          TEXT NOT NULL,
    return_url           TEXT NOT NULL,
    metadata             TEXT NOT NULL,
    consumer_id          TEXT REFERENCES consumers (id),
    billable_account_id  TEXT REFERENCES billable_accounts (id),
    status               TEXT NOT NULL CHECK (status IN ('requires_consumer', 'requires_password', 'calling',
                           'succeeded', 'declined', 'failed', 'expired', 'canceled', 'refunded', 'partially_refunded')),
    decision             TEXT,
    failure_code         TEXT,
    live                 INTEGER NOT NULL CHECK (live IN (0, 1)),
    amount_refunded      INTEGER NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0 AND amount_refunded <= amount),
    authorized_at        TEXT,
    expires_at           TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
  ) STRICT;
  CREATE INDEX payments_merchant ON payments (merchant_id, id);
  CREATE INDEX payments_merchant_reference ON payments (merchant_id, reference);
  CREATE INDEX payments_open ON payments (status, expires_at)
    WHERE status IN ('requires_consumer', 'requires_password', 'calling');
  CREATE INDEX payments_consumer ON payments (consumer_id, created_at);

  CREATE TABLE payment_transitions (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id  TEXT NOT NULL REFERENCES payments (id),
    from_status TEXT,
    to_status   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL
  ) STRICT;
  CREATE INDEX payment_transitions_payment ON payment_transitions (payment_id, seq);

  CREATE TABLE refunds (
    id          TEXT PRIMARY KEY,
    payment_id  TEXT NOT NULL REFERENCES payments (id),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    reason      TEXT,
    created_at  TEXT NOT NULL
  ) STRICT;
  CREATE INDEX refunds_payment ON refunds (payment_id);

  CREATE TABLE transfers (
    id                 TEXT PRIMARY KEY,
    kind               TEXT NOT NULL CHECK (kind IN ('topup', 'hold', 'post', 'void', 'refund')),
    debit_account_id   TEXT NOT NULL REFERENCES ledger_accounts (id),
    credit_account_id  TEXT NOT NULL REFERENCES ledger_accounts (id),
    amount             INTEGER NOT NULL CHECK (amount > 0),
    currency           TEXT NOT NULL,
    pending_id         TEXT REFERENCES transfers (id),
    payment_id         TEXT REFERENCES payments (id),
    refund_id          TEXT UNIQUE REFERENCES refunds (id),
    cycle              TEXT NOT NULL,
    memo               TEXT,
    created_at         TEXT NOT NULL,
    CHECK (debit_account_id <> credit_account_id),
    CHECK ((kind IN ('post', 'void')) = (pending_id IS NOT NULL))
  ) STRICT;
  CREATE UNIQUE INDEX transfers_one_hold ON transfers (payment_id) WHERE kind = 'hold';
  CREATE UNIQUE INDEX transfers_one_resolution ON transfers (pending_id) WHERE kind IN ('post', 'void');
  CREATE INDEX transfers_cycle ON transfers (cycle, kind);
  CREATE INDEX transfers_debit ON transfers (debit_account_id, cycle);
  CREATE INDEX transfers_credit ON transfers (credit_account_id, cycle);
  CREATE TRIGGER transfers_append_only_u BEFORE UPDATE ON transfers BEGIN SELECT RAISE(ABORT, 'ledger transfers are append-only'); END;
  CREATE TRIGGER transfers_append_only_d BEFORE DELETE ON transfers BEGIN SELECT RAISE(ABORT, 'ledger transfers are append-only'); END;
  CREATE TRIGGER transitions_append_only_u BEFORE UPDATE ON payment_transitions BEGIN SELECT RAISE(ABORT, 'transitions are append-only'); END;
  CREATE TRIGGER transitions_append_only_d BEFORE DELETE ON payment_transitions BEGIN SELECT RAISE(ABORT, 'transitions are append-only'); END;

  -- What a merchant may read back (GET /v1/events) and what the webhook outbox delivers.
  CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    type        TEXT NOT NULL,
    payment_id  TEXT REFERENCES payments (id),
    data        TEXT NOT NULL,
    created_at  TEXT NOT NULL
  ) STRICT;
  CREATE INDEX events_merchant ON events (merchant_id, seq);
  CREATE TRIGGER events_append_only_u BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

  CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    event_seq        INTEGER NOT NULL REFERENCES events (seq),
    merchant_id      TEXT NOT NULL REFERENCES merchants (id),
    url              TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    give_up_at       TEXT NOT NULL,
    last_status      INTEGER,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    delivered_at     TEXT
  ) STRICT;
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
  CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_seq);

  -- Per-merchant signing secrets, sealed; during a rotation two are valid until the old one expires.
  CREATE TABLE webhook_secrets (
    id             TEXT PRIMARY KEY,
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    secret_sealed  BLOB NOT NULL,
    created_at     TEXT NOT NULL,
    expires_at     TEXT
  ) STRICT;
  CREATE INDEX webhook_secrets_merchant ON webhook_secrets (merchant_id, created_at);

  CREATE TABLE idempotency_keys (
    merchant_id   TEXT NOT NULL REFERENCES merchants (id),
    key           TEXT NOT NULL,
    request_hash  BLOB NOT NULL,
    status_code   INTEGER NOT NULL,
    response      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (merchant_id, key)
  ) STRICT;
  CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
`;
