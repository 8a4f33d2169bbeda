import { randomBytes } from 'node:crypto';
import type { QueryResultRow } from 'pg';

import type { PgQueryable } from './db.js';
import { execute, inUnit, queryOne, queryRows } from './db.js';
import type { PgRepoDeps } from './deps.js';
import { CallpayError } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import type { ApiKeyInfo, IssuedApiKey, Merchant, MerchantStatus } from '../../domain/merchant.js';
import type { MerchantRepository } from '../../payments/repositories.js';
import { merchantOf, type MerchantRow } from '../rows.js';

/**
 * Merchants and their API keys, as src/store/merchants.ts. A merchant row is locked with FOR NO KEY
 * UPDATE, never FOR UPDATE: the latter would also block every insert elsewhere that references the
 * merchant (a foreign key check takes FOR KEY SHARE), i.e. its payments and events.
 */
export class PgMerchantRepository implements MerchantRepository {
  constructor(private readonly q: PgQueryable, private readonly d: PgRepoDeps) {}

  async add(input: { displayName: string; spokenName: string; webhookUrl: string | null }): Promise<{ merchant: Merchant; key: IssuedApiKey }> {
    const id = newId('mer');
    const now = this.d.clock().toISOString();
    const { row, key } = await inUnit(this.q, async (db) => {
      const inserted = await queryOne<MerchantRow>(
        db,
        `INSERT INTO merchants (id, display_name, spoken_name, webhook_url, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'active', $5, $5) RETURNING *`,
        [id, input.displayName, input.spokenName, input.webhookUrl, now],
      );
      return { row: inserted!, key: await this.insertKey(db, id) };
    });
    return { merchant: merchantOf(row), key };
  }

  async get(id: string): Promise<Merchant> {
    const found = await this.find(id);
    if (!found) throw notFound(id);
    return found;
  }

  async find(id: string): Promise<Merchant | undefined> {
    const row = await queryOne<MerchantRow>(this.q, 'SELECT * FROM merchants WHERE id = $1', [id]);
    return row && merchantOf(row);
  }

  async list(opts: { after?: string; limit: number }): Promise<Merchant[]> {
    const rows = await queryRows<MerchantRow>(this.q, 'SELECT * FROM merchants WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2', [opts.after ?? null, opts.limit]);
    return rows.map(merchantOf);
  }

  async keys(merchantId: string): Promise<ApiKeyInfo[]> {
    await this.get(merchantId);
    return queryRows<ApiKeyInfo & QueryResultRow>(
      this.q,
      `SELECT id, hint, created_at AS "createdAt", revoked_at AS "revokedAt" FROM merchant_api_keys
       WHERE merchant_id = $1 ORDER BY created_at, id`,
      [merchantId],
    );
  }

  /**
   * Read-then-write: the merchant row is locked first, so of two rotations with `revokeOthers` on two
   * nodes the second waits, and its revoking UPDATE (a new statement under READ COMMITTED) then sees
   * and revokes the key the first one issued: exactly one key is left, as with SQLite's single writer.
   */
  async rotateKey(merchantId: string, opts: { revokeOthers: boolean }): Promise<IssuedApiKey> {
    return inUnit(this.q, async (db) => {
      if (!(await queryOne(db, 'SELECT 1 AS found FROM merchants WHERE id = $1 FOR NO KEY UPDATE', [merchantId]))) throw notFound(merchantId);
      if (opts.revokeOthers) {
        await execute(db, 'UPDATE merchant_api_keys SET revoked_at = $1 WHERE merchant_id = $2 AND revoked_at IS NULL', [this.d.clock().toISOString(), merchantId]);
      }
      return this.insertKey(db, merchantId);
    });
  }

  async setVoiceClip(id: string, path: string | null): Promise<Merchant> {
    return this.update(id, 'voice_clip', path);
  }

  /** Conditional UPDATE: a key is revoked once, and only by its own merchant. */
  async revokeKey(merchantId: string, keyId: string): Promise<void> {
    const changed = await execute(
      this.q,
      'UPDATE merchant_api_keys SET revoked_at = $1 WHERE id = $2 AND merchant_id = $3 AND revoked_at IS NULL',
      [this.d.clock().toISOString(), keyId, merchantId],
    );
    if (changed === 0) throw new CallpayError('not_found', `key: no active key ${keyId} for ${merchantId}`, 'key');
  }

  async setStatus(id: string, status: MerchantStatus): Promise<Merchant> {
    return this.update(id, 'status', status);
  }

  /** By SHA-256 of a 256-bit random token: a timing difference reveals nothing usable about a stored key. */
  async findByApiKey(apiKey: string): Promise<Merchant | undefined> {
    const row = await queryOne<MerchantRow>(
      this.q,
      `SELECT m.* FROM merchant_api_keys k JOIN merchants m ON m.id = k.merchant_id
       WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
      [this.d.crypto.hashToken(apiKey)],
    );
    return row && merchantOf(row);
  }

  /** One UPDATE … RETURNING: no window between the existence check and the write. */
  private async update(id: string, column: 'voice_clip' | 'status', value: string | null): Promise<Merchant> {
    const row = await queryOne<MerchantRow>(this.q, `UPDATE merchants SET ${column} = $1, updated_at = $2 WHERE id = $3 RETURNING *`, [value, this.d.clock().toISOString(), id]);
    if (!row) throw notFound(id);
    return merchantOf(row);
  }

  private async insertKey(db: PgQueryable, merchantId: string): Promise<IssuedApiKey> {
    const apiKey = `cpk_${randomBytes(32).toString('base64url')}`;
    const keyId = newId('key');
    await execute(db, 'INSERT INTO merchant_api_keys (id, merchant_id, key_hash, hint, created_at) VALUES ($1, $2, $3, $4, $5)', [
      keyId, merchantId, this.d.crypto.hashToken(apiKey), `…${apiKey.slice(-4)}`, this.d.clock().toISOString(),
    ]);
    return { keyId, apiKey };
  }
}

function notFound(id: string): CallpayError {
  return new CallpayError('not_found', `merchant: no merchant ${id}`, 'merchant');
}

