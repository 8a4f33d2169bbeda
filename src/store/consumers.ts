import type { Db } from './db.js';
import { isUniqueViolation } from './db.js';
import { aad, indexIn, type FieldCrypto } from './field-crypto.js';
import { CallpayError } from '../domain/errors.js';
import { type Consumer, type ConsumerChanges, type ConsumerPolicy, type ConsumerStatus, type NewConsumer } from '../domain/consumer.js';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import { consumerOf, type ConsumerRow } from './rows.js';

const T = 'consumers';

export class ConsumerRepository {
  constructor(
    private readonly db: Db,
    private readonly crypto: FieldCrypto,
    private readonly clock: Clock,
  ) {}

  /** `login` must already be normalised (lower case); it is both indexed and sealed. */
  add(input: NewConsumer): Consumer {
    const id = newId('cons');
    const now = this.clock().toISOString();
    const c = this.crypto;
    // UNIQUE(login_index) sees only one key's index; during a key rotation the same login may still
    // be indexed under the previous key, so look it up under every key in the insert's transaction.
    const insert = this.db.transaction(() => {
      if (this.findByLogin(input.login)) throw new CallpayError('already_exists', 'login: this login account is already enrolled', 'login');
      this.db
        .prepare(
          `INSERT INTO consumers (id, login_index, login_sealed, phone_index, phone_sealed, national_id_sealed,
             address_sealed, pin_hash, password_hash, locale, password_above, call_above, frictionless_amount,
             frictionless_count, status, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)`,
        )
        .run(
          id,
          c.blindIndex('login', input.login),
          c.seal(input.login, aad(T, 'login', id)),
          c.blindIndex('phone', input.phone),
          c.seal(input.phone, aad(T, 'phone', id)),
          c.seal(input.nationalId, aad(T, 'national_id', id)),
          c.seal(input.address, aad(T, 'address', id)),
          input.pinHash,
          input.passwordHash,
          input.locale,
          input.policy.passwordAbove,
          input.policy.callAbove,
          input.policy.frictionlessAmount,
          input.policy.frictionlessCount,
          now,
          now,
        );
    });
    try {
      insert.immediate();
    } catch (e) {
      if (isUniqueViolation(e)) throw new CallpayError('already_exists', 'login: this login account is already enrolled', 'login');
      throw e;
    }
    return this.get(id);
  }

  get(id: string): Consumer {
    const found = this.find(id);
    if (!found) throw new CallpayError('not_found', `consumer: no consumer ${id}`, 'consumer');
    return found;
  }

  find(id: string): Consumer | undefined {
    const row = this.db.prepare('SELECT * FROM consumers WHERE id = ?').get(id) as ConsumerRow | undefined;
    return row && consumerOf(row, this.crypto);
  }

  findByLogin(normalizedLogin: string): Consumer | undefined {
    const row = this.db
      .prepare(`SELECT * FROM consumers WHERE ${indexIn('login_index', this.crypto.blindIndexes('login', normalizedLogin))}`)
      .get(...this.crypto.blindIndexes('login', normalizedLogin)) as ConsumerRow | undefined;
    return row && consumerOf(row, this.crypto);
  }

  findByPhone(e164: string): Consumer[] {
    const rows = this.db
      .prepare(`SELECT * FROM consumers WHERE ${indexIn('phone_index', this.crypto.blindIndexes('phone', e164))} ORDER BY created_at, id`)
      .all(...this.crypto.blindIndexes('phone', e164)) as ConsumerRow[];
    return rows.map((r) => consumerOf(r, this.crypto));
  }

  /** Keyset pagination by id so a long list never needs OFFSET. */
  list(opts: { status?: ConsumerStatus; after?: string; limit: number }): Consumer[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM consumers WHERE (@status IS NULL OR status = @status) AND (@after IS NULL OR id > @after)
         ORDER BY id LIMIT @limit`,
      )
      .all({ status: opts.status ?? null, after: opts.after ?? null, limit: opts.limit }) as ConsumerRow[];
    return rows.map((r) => consumerOf(r, this.crypto));
  }

  update(id: string, changes: ConsumerChanges): Consumer {
    this.get(id);
    const c = this.crypto;
    const sets: string[] = [];
    const values: unknown[] = [];
    if (changes.phone !== undefined) {
      sets.push('phone_index = ?', 'phone_sealed = ?');
      values.push(c.blindIndex('phone', changes.phone), c.seal(changes.phone, aad(T, 'phone', id)));
    }
    if (changes.nationalId !== undefined) {
      sets.push('national_id_sealed = ?');
      values.push(c.seal(changes.nationalId, aad(T, 'national_id', id)));
    }
    if (changes.address !== undefined) {
      sets.push('address_sealed = ?');
      values.push(c.seal(changes.address, aad(T, 'address', id)));
    }
    if (changes.locale !== undefined) {
      sets.push('locale = ?');
      values.push(changes.locale);
    }
    if (sets.length > 0) this.touch(id, sets, values);
    return this.get(id);
  }

  setPolicy(id: string, policy: ConsumerPolicy): Consumer {
    this.get(id);
    this.touch(
      id,
      ['password_above = ?', 'call_above = ?', 'frictionless_amount = ?', 'frictionless_count = ?'],
      [policy.passwordAbove, policy.callAbove, policy.frictionlessAmount, policy.frictionlessCount],
    );
    return this.get(id);
  }

  setStatus(id: string, status: ConsumerStatus): Consumer {
    this.get(id);
    this.touch(id, ['status = ?'], [status]);
    return this.get(id);
  }

  setPinHash(id: string, pinHash: string): void {
    this.get(id);
    this.touch(id, ['pin_hash = ?'], [pinHash]);
  }

  /** null removes the password: the consumer then signs in with the login account alone. */
  setPasswordHash(id: string, passwordHash: string | null): void {
    this.get(id);
    this.touch(id, ['password_hash = ?'], [passwordHash]);
  }

  /**
   * Replaces a PIN or password hash only if it is still `expected` (a hash remade under the current
   * key after a successful check must not undo a PIN changed meanwhile). Whether it replaced it.
   */
  replaceSecretHash(id: string, which: 'pin' | 'password', expected: string, next: string): boolean {
    const column = which === 'pin' ? 'pin_hash' : 'password_hash';
    return this.db.prepare(`UPDATE consumers SET ${column} = ?, updated_at = ? WHERE id = ? AND ${column} = ?`).run(next, this.clock().toISOString(), id, expected).changes === 1;
  }

  pinHash(id: string): string {
    const hash = this.db.prepare('SELECT pin_hash FROM consumers WHERE id = ?').pluck().get(id) as string | undefined;
    if (hash === undefined) throw new CallpayError('not_found', `consumer: no consumer ${id}`, 'consumer');
    return hash;
  }

  passwordHash(id: string): string | null {
    const row = this.db.prepare('SELECT password_hash AS h FROM consumers WHERE id = ?').get(id) as
      | { h: string | null }
      | undefined;
    if (!row) throw new CallpayError('not_found', `consumer: no consumer ${id}`, 'consumer');
    return row.h;
  }

  private touch(id: string, sets: string[], values: unknown[]): void {
    this.db
      .prepare(`UPDATE consumers SET ${sets.join(', ')}, updated_at = ? WHERE id = ?`)
      .run(...values, this.clock().toISOString(), id);
  }
}
