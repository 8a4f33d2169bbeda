import { randomBytes } from 'node:crypto';

import type { Db } from './db.js';
import { aad, type FieldCrypto } from './field-crypto.js';
import { CallpayError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';

interface SecretRow {
  id: string;
  secret_sealed: Buffer;
}

/**
 * Per-merchant webhook signing secrets. Unlike API keys they are sealed, not hashed: callpay must
 * sign with them. A secret's plaintext leaves this class only when it is issued (to be handed to the
 * merchant) and when the dispatcher signs a delivery.
 *
 * Every write goes through db.transaction, which becomes a savepoint when the caller already holds a
 * transaction (e.g. `merchant add` creating the merchant and its first secret together).
 */
export class WebhookSecretRepository {
  constructor(
    private readonly db: Db,
    private readonly crypto: FieldCrypto,
    private readonly clock: Clock,
  ) {}

  /** Issues a new secret for the merchant; previously issued ones are left as they are. */
  create(merchantId: string): string {
    return this.db.transaction(() => {
      this.requireMerchant(merchantId);
      return this.insert(merchantId);
    }).immediate();
  }

  /**
   * Issues a new secret and lets the older ones expire after `overlapHours`, so the merchant can
   * deploy the new one while deliveries signed with both keep verifying. An older secret that
   * already expires sooner keeps its earlier end.
   */
  rotate(merchantId: string, overlapHours: number): string {
    return this.db.transaction(() => {
      this.requireMerchant(merchantId);
      const until = new Date(this.clock().getTime() + overlapHours * 3_600_000).toISOString();
      this.db
        .prepare(
          `UPDATE webhook_secrets SET expires_at = @until
           WHERE merchant_id = @merchantId AND (expires_at IS NULL OR expires_at > @until)`,
        )
        .run({ until, merchantId });
      return this.insert(merchantId);
    }).immediate();
  }

  /** Secrets valid now, newest first: the order of the `v1=` entries in a signature header. */
  active(merchantId: string): string[] {
    const rows = this.db
      .prepare(
        `SELECT id, secret_sealed FROM webhook_secrets
         WHERE merchant_id = ? AND (expires_at IS NULL OR expires_at > ?)
         ORDER BY created_at DESC, rowid DESC`,
      )
      .all(merchantId, this.clock().toISOString()) as SecretRow[];
    return rows.map((r) => this.crypto.open(r.secret_sealed, aad('webhook_secrets', 'secret', r.id)));
  }

  private insert(merchantId: string): string {
    const id = newId('whs');
    const secret = `whsec_${randomBytes(32).toString('base64url')}`;
    this.db
      .prepare('INSERT INTO webhook_secrets (id, merchant_id, secret_sealed, created_at, expires_at) VALUES (?, ?, ?, ?, NULL)')
      .run(id, merchantId, this.crypto.seal(secret, aad('webhook_secrets', 'secret', id)), this.clock().toISOString());
    return secret;
  }

  private requireMerchant(merchantId: string): void {
    if (!this.db.prepare('SELECT 1 FROM merchants WHERE id = ?').get(merchantId)) {
      throw new CallpayError('not_found', `merchant: no merchant ${merchantId}`, 'merchant');
    }
  }
}
