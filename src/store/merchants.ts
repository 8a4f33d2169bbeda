import { randomBytes } from 'node:crypto';

import type { Db } from './db.js';
import type { FieldCrypto } from './field-crypto.js';
import { CallpayError } from '../domain/errors.js';
import type { MerchantStatus } from '../domain/merchant.js';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import type { ApiKeyInfo, IssuedApiKey, Merchant } from '../domain/merchant.js';
import { merchantOf, type MerchantRow } from './rows.js';

export class MerchantRepository {
  constructor(
    private readonly db: Db,
    private readonly crypto: FieldCrypto,
    private readonly clock: Clock,
  ) {}

  add(input: { displayName: string; spokenName: string; webhookUrl: string | null }): {
    merchant: Merchant;
    key: IssuedApiKey;
  } {
    const id = newId('mer');
    const now = this.clock().toISOString();
    const key = this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO merchants (id, display_name, spoken_name, webhook_url, status, created_at, updated_at)
           VALUES (?, ?, ?, ?, 'active', ?, ?)`,
        )
        .run(id, input.displayName, input.spokenName, input.webhookUrl, now, now);
      return this.insertKey(id);
    }).immediate();
    return { merchant: this.get(id), key };
  }

  get(id: string): Merchant {
    const found = this.find(id);
    if (!found) throw new CallpayError('not_found', `merchant: no merchant ${id}`, 'merchant');
    return found;
  }

  find(id: string): Merchant | undefined {
    const row = this.db.prepare('SELECT * FROM merchants WHERE id = ?').get(id) as MerchantRow | undefined;
    return row && merchantOf(row);
  }

  list(opts: { after?: string; limit: number }): Merchant[] {
    const rows = this.db
      .prepare('SELECT * FROM merchants WHERE (@after IS NULL OR id > @after) ORDER BY id LIMIT @limit')
      .all({ after: opts.after ?? null, limit: opts.limit }) as MerchantRow[];
    return rows.map(merchantOf);
  }

  keys(merchantId: string): ApiKeyInfo[] {
    this.get(merchantId);
    return this.db
      .prepare(
        `SELECT id, hint, created_at AS createdAt, revoked_at AS revokedAt FROM merchant_api_keys
         WHERE merchant_id = ? ORDER BY created_at, id`,
      )
      .all(merchantId) as ApiKeyInfo[];
  }

  /** Issues a new key; old keys stay valid (for a rolling change) unless `revokeOthers`. */
  rotateKey(merchantId: string, opts: { revokeOthers: boolean }): IssuedApiKey {
    return this.db.transaction(() => {
      this.get(merchantId);
      if (opts.revokeOthers) {
        this.db
          .prepare('UPDATE merchant_api_keys SET revoked_at = ? WHERE merchant_id = ? AND revoked_at IS NULL')
          .run(this.clock().toISOString(), merchantId);
      }
      return this.insertKey(merchantId);
    }).immediate();
  }

  setVoiceClip(id: string, path: string | null): Merchant {
    this.get(id);
    this.db.prepare('UPDATE merchants SET voice_clip = ?, updated_at = ? WHERE id = ?').run(path, this.clock().toISOString(), id);
    return this.get(id);
  }

  revokeKey(merchantId: string, keyId: string): void {
    const result = this.db
      .prepare('UPDATE merchant_api_keys SET revoked_at = ? WHERE id = ? AND merchant_id = ? AND revoked_at IS NULL')
      .run(this.clock().toISOString(), keyId, merchantId);
    if (result.changes === 0) throw new CallpayError('not_found', `key: no active key ${keyId} for ${merchantId}`, 'key');
  }

  setStatus(id: string, status: MerchantStatus): Merchant {
    this.get(id);
    this.db.prepare('UPDATE merchants SET status = ?, updated_at = ? WHERE id = ?').run(status, this.clock().toISOString(), id);
    return this.get(id);
  }

  /**
   * Finds the merchant owning an active API key. The lookup is by SHA-256 of a 256-bit random
   * token, so a timing difference reveals nothing usable about any stored key.
   */
  findByApiKey(apiKey: string): Merchant | undefined {
    const row = this.db
      .prepare(
        `SELECT m.* FROM merchant_api_keys k JOIN merchants m ON m.id = k.merchant_id
         WHERE k.key_hash = ? AND k.revoked_at IS NULL`,
      )
      .get(this.crypto.hashToken(apiKey)) as MerchantRow | undefined;
    return row && merchantOf(row);
  }

  private insertKey(merchantId: string): IssuedApiKey {
    const apiKey = `cpk_${randomBytes(32).toString('base64url')}`;
    const keyId = newId('key');
    this.db
      .prepare('INSERT INTO merchant_api_keys (id, merchant_id, key_hash, hint, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(keyId, merchantId, this.crypto.hashToken(apiKey), `…${apiKey.slice(-4)}`, this.clock().toISOString());
    return { keyId, apiKey };
  }
}

