import type { FieldCrypto } from '../field-crypto.js';
import type { StoreInspection } from '../inspect.js';
import { openPgPool, queryOne, queryRows } from './db.js';
import { PG_MIGRATIONS, pgSchemaVersion } from './migrations.js';
import { PgAuditRepository } from './audit.js';
import { aad } from '../field-crypto.js';

const CANARY = 'callpay key check';
const CANARY_AAD = aad('meta', 'value', 'key_check');

/**
 * What `callpay doctor` learns from a PostgreSQL store, reading only (nothing migrated, no canary
 * written). PostgreSQL checks its own pages and enforces foreign keys on every write, so there is no
 * integrity pass to run here; a database that cannot be reached throws, and doctor reports it.
 */
export async function inspectPostgres(url: string, crypto: FieldCrypto): Promise<StoreInspection> {
  const knownVersion = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]?.version ?? 0;
  const pool = openPgPool({ url, max: 1, connectTimeoutMs: 5000 });
  try {
    await pool.query("SET default_transaction_read_only = on");
    const appliedVersion = await pgSchemaVersion(pool);
    const base: StoreInspection = {
      exists: true, keyMatches: null, rotationPending: false, appliedVersion, knownVersion, integrityProblems: [], foreignKeyViolations: 0,
      newestWrite: null, webhookUrls: [], voiceClips: [], audit: null,
    };
    if (appliedVersion === 0) return base;
    const canary = await queryOne<{ value: Buffer }>(pool, "SELECT value FROM meta WHERE name = 'key_check'");
    let keyId: string | null = null;
    if (canary) {
      try {
        const opened = crypto.openWithId(canary.value, CANARY_AAD);
        keyId = opened.plaintext === CANARY ? opened.keyId : null;
      } catch {
        keyId = null;
      }
    }
    const keyMatches = canary ? keyId !== null : null;
    const newest = await queryOne<{ at: string | null }>(
      pool,
      'SELECT greatest((SELECT max(created_at) FROM payments), (SELECT max(created_at) FROM payment_transitions), (SELECT max(at) FROM audit_log)) AS at',
    );
    const merchants = await queryRows<{ url: string | null; clip: string | null }>(pool, "SELECT webhook_url AS url, voice_clip AS clip FROM merchants WHERE status = 'active'");
    return {
      ...base,
      keyMatches,
      rotationPending: keyId !== null && keyId !== crypto.currentId,
      newestWrite: newest?.at ?? null,
      webhookUrls: [...new Set(merchants.map((m) => m.url).filter((u): u is string => u !== null))],
      voiceClips: merchants.map((m) => m.clip).filter((c): c is string => c !== null),
      audit: keyMatches === false ? null : await new PgAuditRepository(pool, { crypto, clock: () => new Date(), cycleOf: () => '', webhookRetryForHours: 0 }).verify(),
    };
  } finally {
    await pool.end();
  }
}
