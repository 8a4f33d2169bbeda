import type { PgPool, PgQueryable, PgValue } from './db.js';
import { execute, queryOne, queryRows, withPgTransaction } from './db.js';
import type { PgRepoDeps } from './deps.js';
import { aad } from '../field-crypto.js';
import { pepperKeyOf, tagPepperKey } from '../../crypto/secret-hasher.js';
import { CallpayError } from '../../domain/errors.js';
import type { KeyMaintenance, KeyStatus, RekeyCursor } from '../../domain/key-rotation.js';
import { DIALS_STEP, SEALED, type SealedTable } from '../sealed-columns.js';

/** Rows read per round trip when counting what is pending. */
const STATUS_PAGE = 1000;
const CANARY_AAD = aad('meta', 'value', 'key_check');

type Row = Record<string, unknown> & { id: string };
interface DialRow {
  id: number;
  numberIndex: Buffer | null;
  phone: string;
}

/**
 * The PostgreSQL store's key rotation (mirrors src/store/rekey.ts): every row is rewritten whole (all
 * its sealed values and indexes together), batch by batch in id order, each batch one transaction, so
 * a kill between batches leaves each row entirely under one key and a rerun skips what is done. The
 * batch's rows are locked (`SELECT … FOR UPDATE`) from the moment they are read until the batch
 * commits: a node writing one of them meanwhile waits, and a row another node changed just before is
 * read in its new version (READ COMMITTED re-reads a row it waited for), so no write is lost.
 */
export class PgKeyMaintenance implements KeyMaintenance {
  constructor(
    private readonly pool: PgPool,
    private readonly d: PgRepoDeps,
  ) {}

  /** Read page by page without locks: a count for the operator, not a snapshot. */
  async status(): Promise<KeyStatus> {
    const crypto = this.d.crypto;
    const pending: Record<string, number> = {};
    const secretHashes: Record<string, number> = {};
    const bump = (into: Record<string, number>, name: string) => void (into[name] = (into[name] ?? 0) + 1);
    for (const t of SEALED) {
      for (let after: string | null = null; ; ) {
        const rows = await this.page(this.pool, t, after, STATUS_PAGE, false);
        for (const row of rows) {
          for (const c of t.columns) {
            const { plaintext, keyId } = crypto.openWithId(row[c.sealed] as Buffer, aad(t.table, c.aadName, row.id));
            if (keyId !== crypto.currentId) bump(pending, `${t.table}.${c.sealed}`);
            if (c.index && !crypto.blindIndex(c.index.kind, plaintext).equals(row[c.index.column] as Buffer)) bump(pending, `${t.table}.${c.index.column}`);
          }
          for (const h of t.secretHashes ?? []) {
            if (typeof row[h] === 'string') bump(secretHashes, pepperKeyOf(row[h]) ?? 'untagged');
          }
        }
        if (rows.length < STATUS_PAGE) break;
        after = rows[rows.length - 1]!.id;
      }
    }
    for (let after: number | null = null; ; ) {
      const rows = await this.dials(this.pool, after, STATUS_PAGE, false);
      for (const d of rows) if (this.dialNeeds(d) !== 'ok') bump(pending, 'dials.number_index');
      if (rows.length < STATUS_PAGE) break;
      after = rows[rows.length - 1]!.id;
    }
    const without = await queryOne<{ n: number }>(this.pool, 'SELECT count(*) AS n FROM dials WHERE number_index IS NULL');
    return {
      currentKey: crypto.currentId,
      heldKeys: [...crypto.ids],
      databaseKey: await this.canaryKey(this.pool),
      pending,
      secretHashes,
      dialsWithoutNumber: without?.n ?? 0,
    };
  }

  async rekeyBatch(cursor: RekeyCursor | null, limit: number): Promise<{ changed: number; next: RekeyCursor | null }> {
    const at = cursor ?? { step: 0, after: null };
    if (at.step > DIALS_STEP) return { changed: 0, next: null };
    return withPgTransaction(this.pool, async (tx) => {
      const done = at.step === DIALS_STEP ? await this.rekeyDials(tx, at.after, limit) : await this.rekeyTable(tx, SEALED[at.step]!, at.after, limit);
      const next: RekeyCursor | null =
        done.last === null ? (at.step === DIALS_STEP ? null : { step: at.step + 1, after: null }) : { step: at.step, after: done.last };
      return { changed: done.changed, next };
    });
  }

  /** The canary row is locked while it is resealed, so two nodes finishing at once write it one after the other. */
  async finish(): Promise<boolean> {
    const s = await this.status();
    if (Object.keys(s.pending).length > 0 || s.secretHashes.untagged !== undefined) return false;
    await withPgTransaction(this.pool, async (tx) => {
      const row = await queryOne<{ value: Buffer }>(tx, "SELECT value FROM meta WHERE name = 'key_check' FOR UPDATE");
      if (!row) throw new CallpayError('internal', 'the database has no key canary');
      // Resealing what the canary holds keeps its text in one place (src/store/key-check.ts).
      const canary = this.d.crypto.open(row.value, CANARY_AAD);
      await execute(tx, "UPDATE meta SET value = $1 WHERE name = 'key_check'", [this.d.crypto.seal(canary, CANARY_AAD)]);
    });
    return true;
  }

  /**
   * Table and column names come from SEALED, never from input; the cursor and limit are bound.
   * FOR UPDATE, not NO KEY UPDATE: re-indexing writes unique columns (login_index, number_index), and
   * such an UPDATE takes FOR UPDATE anyway; taking it up front avoids a lock upgrade mid-batch.
   */
  private page(db: PgQueryable, t: SealedTable, after: string | number | null, limit: number, lock: boolean): Promise<Row[]> {
    const columns = ['id', ...t.columns.flatMap((c) => (c.index ? [c.sealed, c.index.column] : [c.sealed])), ...(t.secretHashes ?? [])];
    return queryRows<Row>(
      db,
      `SELECT ${columns.join(', ')} FROM ${t.table} WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2${lock ? ' FOR UPDATE' : ''}`,
      [after === null ? null : String(after), limit],
    );
  }

  private async rekeyTable(db: PgQueryable, t: SealedTable, after: string | number | null, limit: number): Promise<{ changed: number; last: string | null }> {
    const crypto = this.d.crypto;
    const rows = await this.page(db, t, after, limit, true);
    // Hashes made before they named their key were peppered under the key the database had then.
    const untaggedKey = await this.canaryKey(db);
    let changed = 0;
    for (const row of rows) {
      const sets: string[] = [];
      const values: PgValue[] = [];
      const set = (column: string, value: PgValue) => void (values.push(value), sets.push(`${column} = $${values.length}`));
      for (const c of t.columns) {
        const where = aad(t.table, c.aadName, row.id);
        const { plaintext, keyId } = crypto.openWithId(row[c.sealed] as Buffer, where);
        if (keyId !== crypto.currentId) set(c.sealed, crypto.seal(plaintext, where));
        if (c.index) {
          const index = crypto.blindIndex(c.index.kind, plaintext);
          if (!index.equals(row[c.index.column] as Buffer)) set(c.index.column, index);
        }
      }
      for (const h of t.secretHashes ?? []) {
        const stored = row[h];
        if (typeof stored === 'string' && pepperKeyOf(stored) === null) set(h, tagPepperKey(stored, untaggedKey));
      }
      if (sets.length === 0) continue;
      await execute(db, `UPDATE ${t.table} SET ${sets.join(', ')} WHERE id = $${values.length + 1}`, [...values, row.id]);
      changed += 1;
    }
    return { changed, last: rows.length === limit ? rows[rows.length - 1]!.id : null };
  }

  /** Dials with their consumer's current number; `lock` locks the dial rows only (FOR UPDATE OF d). */
  private async dials(db: PgQueryable, after: string | number | null, limit: number, lock: boolean): Promise<DialRow[]> {
    const rows = await queryRows<{ id: number; numberIndex: Buffer | null; consumerId: string; phoneSealed: Buffer }>(
      db,
      `SELECT d.id, d.number_index AS "numberIndex", c.id AS "consumerId", c.phone_sealed AS "phoneSealed"
       FROM dials d JOIN consumers c ON c.id = d.consumer_id WHERE ($1::bigint IS NULL OR d.id > $1) ORDER BY d.id LIMIT $2${lock ? ' FOR UPDATE OF d' : ''}`,
      [after === null ? null : Number(after), limit],
    );
    return rows.map((r) => ({ id: r.id, numberIndex: r.numberIndex, phone: this.d.crypto.open(r.phoneSealed, aad('consumers', 'phone', r.consumerId)) }));
  }

  /** A dial's number is known only if it is the consumer's current one, under some held key. */
  private dialNeeds(d: DialRow): 'ok' | 'rekey' | 'clear' {
    const crypto = this.d.crypto;
    if (d.numberIndex === null || crypto.blindIndex('phone', d.phone).equals(d.numberIndex)) return 'ok';
    return crypto.ids.some((k) => crypto.blindIndexUnder(k, 'phone', d.phone).equals(d.numberIndex!)) ? 'rekey' : 'clear';
  }

  private async rekeyDials(db: PgQueryable, after: string | number | null, limit: number): Promise<{ changed: number; last: number | null }> {
    const rows = await this.dials(db, after, limit, true);
    let changed = 0;
    for (const d of rows) {
      const need = this.dialNeeds(d);
      if (need === 'ok') continue;
      await execute(db, 'UPDATE dials SET number_index = $1 WHERE id = $2', [need === 'rekey' ? this.d.crypto.blindIndex('phone', d.phone) : null, d.id]);
      changed += 1;
    }
    return { changed, last: rows.length === limit ? rows[rows.length - 1]!.id : null };
  }

  /** Which held key the database's canary is sealed under (the key it had before an unfinished rotation). */
  private async canaryKey(db: PgQueryable): Promise<string> {
    const row = await queryOne<{ value: Buffer }>(db, "SELECT value FROM meta WHERE name = 'key_check'");
    if (!row) throw new CallpayError('internal', 'the database has no key canary');
    return this.d.crypto.openWithId(row.value, CANARY_AAD).keyId;
  }
}
