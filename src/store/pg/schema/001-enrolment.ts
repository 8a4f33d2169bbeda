import { TEXT } from './text.js';

/**
 * Consumers (sealed personal data, hashed secrets), billable accounts, merchants and API keys: the
 * SQLite schema after its migrations 001, 003 (merchants.voice_clip) and 004 (no CHECK on locale: the
 * list lives in domain/locale.ts). Money is BIGINT minor units; sealed fields and blind indexes BYTEA.
 */
export const PG_ENROLMENT_SQL = `
  -- Small facts about this database, e.g. a sealed canary proving the master key matches it.
  CREATE TABLE meta (
    name   ${TEXT} PRIMARY KEY,
    value  BYTEA NOT NULL
  );

  CREATE TABLE consumers (
    id                  ${TEXT} PRIMARY KEY,
    login_index         BYTEA NOT NULL UNIQUE,
    login_sealed        BYTEA NOT NULL,
    phone_index         BYTEA NOT NULL,
    phone_sealed        BYTEA NOT NULL,
    national_id_sealed  BYTEA NOT NULL,
    address_sealed      BYTEA NOT NULL,
    pin_hash            ${TEXT} NOT NULL,
    password_hash       ${TEXT},
    locale              ${TEXT} NOT NULL,
    password_above      BIGINT NOT NULL DEFAULT 0 CHECK (password_above >= 0),
    call_above          BIGINT NOT NULL DEFAULT 0 CHECK (call_above >= 0),
    frictionless_amount BIGINT CHECK (frictionless_amount >= 0),
    frictionless_count  INTEGER CHECK (frictionless_count >= 0),
    status              ${TEXT} NOT NULL CHECK (status IN ('active', 'locked', 'closed')),
    created_at          ${TEXT} NOT NULL,
    updated_at          ${TEXT} NOT NULL
  );
  CREATE INDEX consumers_phone ON consumers (phone_index);

  CREATE TABLE billable_accounts (
    id             ${TEXT} PRIMARY KEY,
    consumer_id    ${TEXT} NOT NULL REFERENCES consumers (id),
    kind           ${TEXT} NOT NULL CHECK (kind IN ('landline', 'mobile', 'broadband')),
    number_index   BYTEA NOT NULL UNIQUE,
    number_sealed  BYTEA NOT NULL,
    plan           ${TEXT} NOT NULL CHECK (plan IN ('prepaid', 'postpaid')),
    currency       ${TEXT} NOT NULL,
    credit_limit   BIGINT CHECK (credit_limit >= 0),
    is_default     INTEGER NOT NULL CHECK (is_default IN (0, 1)),
    created_at     ${TEXT} NOT NULL,
    CHECK ((plan = 'postpaid') = (credit_limit IS NOT NULL))
  );
  CREATE UNIQUE INDEX billable_accounts_one_default ON billable_accounts (consumer_id) WHERE is_default = 1;

  CREATE TABLE merchants (
    id            ${TEXT} PRIMARY KEY,
    display_name  ${TEXT} NOT NULL,
    spoken_name   ${TEXT} NOT NULL,
    webhook_url   ${TEXT},
    status        ${TEXT} NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at    ${TEXT} NOT NULL,
    updated_at    ${TEXT} NOT NULL,
    voice_clip    ${TEXT}
  );

  CREATE TABLE merchant_api_keys (
    id           ${TEXT} PRIMARY KEY,
    merchant_id  ${TEXT} NOT NULL REFERENCES merchants (id),
    key_hash     BYTEA NOT NULL UNIQUE,
    hint         ${TEXT} NOT NULL,
    created_at   ${TEXT} NOT NULL,
    revoked_at   ${TEXT}
  );
  CREATE INDEX merchant_api_keys_merchant ON merchant_api_keys (merchant_id);
`;
