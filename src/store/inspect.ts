import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { FieldCrypto } from './field-crypto.js';
import { MIGRATIONS } from './migrations.js';
import { keyCanaryKey, keyCanaryStatus } from './key-check.js';
import { AuditRepository } from './audit.js';
import type { AuditVerdict } from '../domain/audit.js';

/** What `callpay doctor` learns from the database file, read-only: nothing is created or migrated. */
export interface StoreInspection {
  exists: boolean;
  /** null: no canary yet (a database no key has opened). */
  keyMatches: boolean | null;
  /** The canary is under a previous key held in previousKeyFiles: a key rotation has not finished. */
  rotationPending: boolean;
  appliedVersion: number;
  knownVersion: number;
  /** `PRAGMA integrity_check` messages other than "ok", at most 20. */
  integrityProblems: string[];
  foreignKeyViolations: number;
  /** The newest time written by callpay (payments, transitions, audit), for the clock check. */
  newestWrite: string | null;
  webhookUrls: string[];
  voiceClips: string[];
  /** The audit log's hash chain (null: this database has no audit log yet). */
  audit: AuditVerdict | null;
}

function tableExists(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

export function inspectSqlite(path: string, crypto: FieldCrypto): StoreInspection {
  const knownVersion = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
  const empty: StoreInspection = {
    exists: false, keyMatches: null, rotationPending: false, appliedVersion: 0, knownVersion, integrityProblems: [], foreignKeyViolations: 0, newestWrite: null, webhookUrls: [], voiceClips: [], audit: null,
  };
  if (!existsSync(path)) return empty;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const integrityProblems = (db.pragma('integrity_check(20)', { simple: false }) as Array<{ integrity_check: string }>)
      .map((r) => r.integrity_check)
      .filter((m) => m !== 'ok');
    if (integrityProblems.length > 0) return { ...empty, exists: true, integrityProblems };
    const appliedVersion = tableExists(db, 'schema_migrations') ? ((db.prepare('SELECT max(version) FROM schema_migrations').pluck().get() as number | null) ?? 0) : 0;
    const canary = tableExists(db, 'meta') ? keyCanaryStatus(db, crypto) : 'missing';
    const keyMatches = canary === 'missing' ? null : canary === 'match';
    const rotationPending = keyMatches === true && keyCanaryKey(db, crypto) !== crypto.currentId;
    const newest = ['SELECT max(created_at) FROM payments', 'SELECT max(created_at) FROM payment_transitions', 'SELECT max(at) FROM audit_log']
      .map((sql) => {
        try {
          return db.prepare(sql).pluck().get() as string | null;
        } catch {
          return null; // a table or column this version does not have
        }
      })
      .filter((v): v is string => typeof v === 'string')
      .sort()
      .at(-1) ?? null;
    const merchants = tableExists(db, 'merchants')
      ? (db.prepare("SELECT webhook_url AS url, voice_clip AS clip FROM merchants WHERE status = 'active'").all() as Array<{ url: string | null; clip: string | null }>)
      : [];
    return {
      exists: true,
      keyMatches,
      rotationPending,
      appliedVersion,
      knownVersion,
      integrityProblems,
      foreignKeyViolations: (db.pragma('foreign_key_check') as unknown[]).length,
      newestWrite: newest,
      webhookUrls: [...new Set(merchants.map((m) => m.url).filter((u): u is string => u !== null))],
      voiceClips: merchants.map((m) => m.clip).filter((c): c is string => c !== null),
      audit: tableExists(db, 'audit_log') && keyMatches !== false ? new AuditRepository(db, crypto, () => new Date()).verify() : null,
    };
  } finally {
    db.close();
  }
}
