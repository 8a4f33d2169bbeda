import type { PgQueryable, PgValue } from './db.js';
import { execute, inUnit, placeholders, queryOne, queryRows, sqlState } from './db.js';
import type { PgRepoDeps } from './deps.js';
import { aad } from '../field-crypto.js';
import { CallpayError } from '../../domain/errors.js';
import { type Consumer, type ConsumerChanges, type ConsumerPolicy, type ConsumerStatus, type NewConsumer } from '../../domain/consumer.js';
import { newId } from '../../domain/ids.js';
import type { ConsumerRepository } from '../../payments/repositories.js';
import { consumerOf, type ConsumerRow } from '../rows.js';

const T = 'consumers';
/** Advisory lock class (two-int form) of an enrolment's login; see `add`. */
const LOGIN_LOCK = 0x6c6f6731; // "log1"

const duplicateLogin = () => new CallpayError('already_exists', 'login: this login account is already enrolled', 'login');

/** Consumers, as src/store/consumers.ts: personal data sealed, looked up by blind index under every held key. */
export class PgConsumerRepository implements ConsumerRepository {
  constructor(private readonly q: PgQueryable, private readonly d: PgRepoDeps) {}

  /**
   * Lookup-then-insert. UNIQUE(login_index) catches two nodes enrolling one login under the same
   * key (23505 → already_exists). During a key rotation two nodes may hold different current keys,
   * and their indexes differ: so `add` first takes a transaction-scoped advisory lock per index it
   * can compute (every held key's), which nodes sharing any key collide on, and only then looks the
   * login up (READ COMMITTED: that statement sees what the lock's previous holder committed). What no
   * lock can give: a node holding only the old key cannot see a login enrolled under the new one (nor
   * can SQLite's); every node must hold the new key before any node makes it current. A savepoint
   * inside a caller's transaction, so the caller can catch already_exists and go on.
   */
  async add(input: NewConsumer): Promise<Consumer> {
    const id = newId('cons');
    const now = this.d.clock().toISOString();
    const c = this.d.crypto;
    const indexes = c.blindIndexes('login', input.login);
    try {
      await inUnit(this.q, async (db) => {
        const keys = indexes.map((ix) => ix.readInt32BE(0)).sort((a, b) => a - b);
        await execute(db, `SELECT ${keys.map((_, i) => `pg_advisory_xact_lock($1, $${i + 2})`).join(', ')}`, [LOGIN_LOCK, ...keys]);
        if (await queryOne(db, `SELECT 1 AS found FROM consumers WHERE login_index IN (${placeholders(1, indexes.length)})`, indexes)) throw duplicateLogin();
        await execute(
          db,
          `INSERT INTO consumers (id, login_index, login_sealed, phone_index, phone_sealed, national_id_sealed,
             address_sealed, pin_hash, password_hash, locale, password_above, call_above, frictionless_amount,
             frictionless_count, status, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'active', $15, $15)`,
          [
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
          ],
        );
      }, { savepoint: true });
    } catch (e) {
      if (sqlState(e) === '23505') throw duplicateLogin();
      throw e;
    }
    return this.get(id);
  }

  async get(id: string): Promise<Consumer> {
    const found = await this.find(id);
    if (!found) throw notFound(id);
    return found;
  }

  async find(id: string): Promise<Consumer | undefined> {
    const row = await queryOne<ConsumerRow>(this.q, 'SELECT * FROM consumers WHERE id = $1', [id]);
    return row && consumerOf(row, this.d.crypto);
  }

  async findByLogin(normalizedLogin: string): Promise<Consumer | undefined> {
    const indexes = this.d.crypto.blindIndexes('login', normalizedLogin);
    const row = await queryOne<ConsumerRow>(this.q, `SELECT * FROM consumers WHERE login_index IN (${placeholders(1, indexes.length)}) LIMIT 1`, indexes);
    return row && consumerOf(row, this.d.crypto);
  }

  async findByPhone(e164: string): Promise<Consumer[]> {
    const indexes = this.d.crypto.blindIndexes('phone', e164);
    const rows = await queryRows<ConsumerRow>(this.q, `SELECT * FROM consumers WHERE phone_index IN (${placeholders(1, indexes.length)}) ORDER BY created_at, id`, indexes);
    return rows.map((r) => consumerOf(r, this.d.crypto));
  }

  async list(opts: { status?: ConsumerStatus; after?: string; limit: number }): Promise<Consumer[]> {
    const rows = await queryRows<ConsumerRow>(
      this.q,
      'SELECT * FROM consumers WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3',
      [opts.status ?? null, opts.after ?? null, opts.limit],
    );
    return rows.map((r) => consumerOf(r, this.d.crypto));
  }

  async update(id: string, changes: ConsumerChanges): Promise<Consumer> {
    const c = this.d.crypto;
    const sets: Array<[string, PgValue]> = [];
    if (changes.phone !== undefined) sets.push(['phone_index', c.blindIndex('phone', changes.phone)], ['phone_sealed', c.seal(changes.phone, aad(T, 'phone', id))]);
    if (changes.nationalId !== undefined) sets.push(['national_id_sealed', c.seal(changes.nationalId, aad(T, 'national_id', id))]);
    if (changes.address !== undefined) sets.push(['address_sealed', c.seal(changes.address, aad(T, 'address', id))]);
    if (changes.locale !== undefined) sets.push(['locale', changes.locale]);
    if (sets.length === 0) return this.get(id);
    return consumerOf(await this.touch(id, sets), this.d.crypto);
  }

  async setPolicy(id: string, policy: ConsumerPolicy): Promise<Consumer> {
    return consumerOf(
      await this.touch(id, [
        ['password_above', policy.passwordAbove],
        ['call_above', policy.callAbove],
        ['frictionless_amount', policy.frictionlessAmount],
        ['frictionless_count', policy.frictionlessCount],
      ]),
      this.d.crypto,
    );
  }

  async setStatus(id: string, status: ConsumerStatus): Promise<Consumer> {
    return consumerOf(await this.touch(id, [['status', status]]), this.d.crypto);
  }

  async setPinHash(id: string, pinHash: string): Promise<void> {
    await this.touch(id, [['pin_hash', pinHash]]);
  }

  async setPasswordHash(id: string, passwordHash: string | null): Promise<void> {
    await this.touch(id, [['password_hash', passwordHash]]);
  }

  /** Compare-and-set in one conditional UPDATE: a PIN changed meanwhile on any node is never undone. */
  async replaceSecretHash(id: string, which: 'pin' | 'password', expected: string, next: string): Promise<boolean> {
    const column = which === 'pin' ? 'pin_hash' : 'password_hash';
    return (await execute(this.q, `UPDATE consumers SET ${column} = $1, updated_at = $2 WHERE id = $3 AND ${column} = $4`, [next, this.d.clock().toISOString(), id, expected])) === 1;
  }

  async pinHash(id: string): Promise<string> {
    const row = await queryOne<{ h: string }>(this.q, 'SELECT pin_hash AS h FROM consumers WHERE id = $1', [id]);
    if (!row) throw notFound(id);
    return row.h;
  }

  async passwordHash(id: string): Promise<string | null> {
    const row = await queryOne<{ h: string | null }>(this.q, 'SELECT password_hash AS h FROM consumers WHERE id = $1', [id]);
    if (!row) throw notFound(id);
    return row.h;
  }

  /** One UPDATE … RETURNING: the existence check and the write cannot be split by another node. */
  private async touch(id: string, sets: Array<[string, PgValue]>): Promise<ConsumerRow> {
    const assignments = sets.map(([column], i) => `${column} = $${i + 3}`);
    const row = await queryOne<ConsumerRow>(
      this.q,
      `UPDATE consumers SET ${assignments.join(', ')}, updated_at = $2 WHERE id = $1 RETURNING *`,
      [id, this.d.clock().toISOString(), ...sets.map(([, v]) => v)],
    );
    if (!row) throw notFound(id);
    return row;
  }
}

function notFound(id: string): CallpayError {
  return new CallpayError('not_found', `consumer: no consumer ${id}`, 'consumer');
}
