/**
 * Consumers without `CHECK (locale IN (...))`: the list of locales lives in domain/locale.ts and every
 * write goes through parseLocale or the Locale type, so adding a locale needs no table rebuild again.
 *
 * SQLite cannot drop a CHECK in place; this is its documented 12-step rebuild (new table, copy, drop,
 * rename, indexes). billable_accounts, payments and pin_failures reference consumers (id) by name, so
 * the runner applies it with foreign key enforcement off and runs foreign_key_check before commit
 * (`rebuildsTables` in migrations.ts). Every other column and constraint is as in 001.
 */
export const CONSUMER_LOCALE_SQL = `
  CREATE TABLE consumers_new (
    id                  TEXT PRIMARY KEY,
    login_index         BLOB NOT NULL UNIQUE,
    login_sealed        BLOB NOT NULL,
    phone_index         BLOB NOT NULL,
    phone_sealed        BLOB NOT NULL,
    national_id_sealed  BLOB NOT NULL,
    address_sealed      BLOB NOT NULL,
    pin_hash            TEXT NOT NULL,
    password_hash       TEXT,
    locale              TEXT NOT NULL,
    password_above      INTEGER NOT NULL DEFAULT 0 CHECK (password_above >= 0),
    call_above          INTEGER NOT NULL DEFAULT 0 CHECK (call_above >= 0),
    frictionless_amount INTEGER CHECK (frictionless_amount >= 0),
    frictionless_count  INTEGER CHECK (frictionless_count >= 0),
    status              TEXT NOT NULL CHECK (status IN ('active', 'locked', 'closed')),
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
  ) STRICT;

  INSERT INTO consumers_new (id, login_index, login_sealed, phone_index, phone_sealed, national_id_sealed,
      address_sealed, pin_hash, password_hash, locale, password_above, call_above, frictionless_amount,
      frictionless_count, status, created_at, updated_at)
    SELECT id, login_index, login_sealed, phone_index, phone_sealed, national_id_sealed,
      address_sealed, pin_hash, password_hash, locale, password_above, call_above, frictionless_amount,
      frictionless_count, status, created_at, updated_at
    FROM consumers;

  DROP TABLE consumers;
  ALTER TABLE consumers_new RENAME TO consumers;
  CREATE INDEX consumers_phone ON consumers (phone_index);
`;
