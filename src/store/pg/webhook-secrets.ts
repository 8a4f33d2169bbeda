import { randomBytes } from 'node:crypto';

import type { PgQueryable } from './db.js';
import { execute, inUnit, queryOne, queryRows } from './db.js';
import type { PgRepoDeps } from './deps.js';
import { aad } from '../field-crypto.js';
import { CallpayError } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import type { WebhookSecretRepository } from '../../payments/repositories.js';

/**
 * Per-merchant webhook signing secrets, sealed (callpay signs with them), as
 * src/store/webhook-secrets.ts. Each write is one unit: its own transaction on the pool, part of the
 * caller's inside one (e.g. `merchant add` creating the merchant and its first secret together).
 */
export class PgWebhookSecretRepository implements WebhookSecretRepository {
  constructor(private readonly q: PgQueryable, private readonly d: PgRepoDeps) {}

  async create(merchantId: string): Promise<string> {
    return inUnit(this.q, async (db) => {
      await this.lockMerchant(db, merchantId);
      return this.insert(db, merchantId);
    });
  }

  /**
   * Read-then-write across rows: the merchant row is locked first (FOR NO KEY UPDATE, which leaves
   * inserts referencing the merchant alone), so two rotations on two nodes run one after the other
   * and the second one's UPDATE (a new statement under READ COMMITTED) also expires the secret the
   * first issued. Without it each would miss the other's new secret, and both would stay valid forever.
   */
  async rotate(merchantId: string, overlapHours: number): Promise<string> {
    return inUnit(this.q, async (db) => {
      await this.lockMerchant(db, merchantId);
      const until = new Date(this.d.clock().getTime() + overlapHours * 3_600_000).toISOString();
      await execute(
        db,
        'UPDATE webhook_secrets SET expires_at = $1 WHERE merchant_id = $2 AND (expires_at IS NULL OR expires_at > $1)',
        [until, merchantId],
      );
      return this.insert(db, merchantId);
    });
  }

  /**
   * Valid now, newest first. SQLite breaks a tie in created_at by rowid; PostgreSQL has no insertion
   * order, so a tie goes to the secret that has no end (the one a rotation issued), then to the id.
   */
  async active(merchantId: string): Promise<string[]> {
    const rows = await queryRows<{ id: string; secret_sealed: Buffer }>(
      this.q,
      `SELECT id, secret_sealed FROM webhook_secrets
       WHERE merchant_id = $1 AND (expires_at IS NULL OR expires_at > $2)
       ORDER BY created_at DESC, expires_at DESC NULLS FIRST, id DESC`,
      [merchantId, this.d.clock().toISOString()],
    );
    return rows.map((r) => this.d.crypto.open(r.secret_sealed, aad('webhook_secrets', 'secret', r.id)));
  }

  private async insert(db: PgQueryable, merchantId: string): Promise<string> {
    const id = newId('whs');
    const secret = `whsec_${randomBytes(32).toString('base64url')}`;
    await execute(db, 'INSERT INTO webhook_secrets (id, merchant_id, secret_sealed, created_at, expires_at) VALUES ($1, $2, $3, $4, NULL)', [
      id, merchantId, this.d.crypto.seal(secret, aad('webhook_secrets', 'secret', id)), this.d.clock().toISOString(),
    ]);
    return secret;
  }

  private async lockMerchant(db: PgQueryable, merchantId: string): Promise<void> {
    if (!(await queryOne(db, 'SELECT 1 AS found FROM merchants WHERE id = $1 FOR NO KEY UPDATE', [merchantId]))) {
      throw new CallpayError('not_found', `merchant: no merchant ${merchantId}`, 'merchant');
    }
  }
}
