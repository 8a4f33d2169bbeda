/**
 * The operator audit log: append-only (triggers), and each row carries a keyed hash of itself chained
 * to the previous row's, so a row edited or deleted behind the triggers' back (another tool, a dropped
 * trigger) is found by `callpay audit verify`. The chain's key is derived from the master key, which
 * never lives in the database: whoever can write the file cannot forge the chain.
 */
export const AUDIT_SQL = `
  CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    details    TEXT NOT NULL,
    prev_hash  BLOB NOT NULL,
    hash       BLOB NOT NULL UNIQUE
  ) STRICT;
  CREATE INDEX audit_log_subject ON audit_log (subject, seq);
  CREATE TRIGGER audit_log_append_only_u BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER audit_log_append_only_d BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
`;
