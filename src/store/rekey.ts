import type { Db } from './db.js';
import { aad, type FieldCrypto } from './field-crypto.js';
import { keyCanaryKey, resealCanary } from './key-check.js';
import { pepperKeyOf, tagPepperKey } from '../crypto/secret-hasher.js';
import type { KeyStatus, RekeyCursor } from '../domain/key-rotation.js';
import { DIALS_STEP, SEALED, type SealedTable } from './sealed-columns.js';

type Row = Record<string, unknown> & { id: string };

/**
 * The SQLite store's key rotation. Every row is rewritten whole in one transaction (all its sealed
 * values and indexes together), batch by batch in id order: a kill between batches leaves each row
 * entirely under one key, and a rerun skips what is already under the current key. Synchronous like
 * the repositories; the store puts it behind the same asynchronous facade (KeyMaintenance).
 */
export class SqliteKeyMaintenance {
  constructor(
    private readonly db: Db,
    private readonly crypto: FieldCrypto,
  ) {}

  status(): KeyStatus {
    const pending: Record<string, number> = {};
    const secretHashes: Record<string, number> = {};
    const bump = (into: Record<string, number>, name: string) => void (into[name] = (into[name] ?? 0) + 1);
    for (const t of SEALED) {
      for (const row of this.db.prepare(`SELECT * FROM ${t.table}`).iterate() as IterableIterator<Row>) {
        for (const c of t.columns) {
          const { plaintext, keyId } = this.crypto.openWithId(row[c.sealed] as Buffer, aad(t.table, c.aadName, row.id));
          if (keyId !== this.crypto.currentId) bump(pending, `${t.table}.${c.sealed}`);
          if (c.index && !this.crypto.blindIndex(c.index.kind, plaintext).equals(row[c.index.column] as Buffer)) bump(pending, `${t.table}.${c.index.column}`);
        }
        for (const h of t.secretHashes ?? []) {
          if (typeof row[h] === 'string') bump(secretHashes, pepperKeyOf(row[h]) ?? 'untagged');
        }
      }
    }
    for (const d of this.dials(null, Number.MAX_SAFE_INTEGER)) if (this.dialNeeds(d) !== 'ok') bump(pending, 'dials.number_index');
    return {
      currentKey: this.crypto.currentId,
      heldKeys: [...this.crypto.ids],
      databaseKey: keyCanaryKey(this.db, this.crypto),
      pending,
      secretHashes,
      dialsWithoutNumber: this.db.prepare('SELECT count(*) FROM dials WHERE number_index IS NULL').pluck().get() as number,
    };
  }

  rekeyBatch(cursor: RekeyCursor | null, limit: number): { changed: number; next: RekeyCursor | null } {
    const at = cursor ?? { step: 0, after: null };
    if (at.step > DIALS_STEP) return { changed: 0, next: null };
    return this.db.transaction(() => {
      const done = at.step === DIALS_STEP ? this.rekeyDials(at.after, limit) : this.rekeyTable(SEALED[at.step]!, at.after, limit);
      const next: RekeyCursor | null = done.last === null ? (at.step === DIALS_STEP ? null : { step: at.step + 1, after: null }) : { step: at.step, after: done.last };
      return { changed: done.changed, next };
    }).immediate();
  }

  finish(): boolean {
    const s = this.status();
    if (Object.keys(s.pending).length > 0 || s.secretHashes.untagged !== undefined) return false;
    this.db.transaction(() => resealCanary(this.db, this.crypto)).immediate();
    return true;
  }

  private rekeyTable(t: SealedTable, after: string | number | null, limit: number): { changed: number; last: string | null } {
    const rows = this.db.prepare(`SELECT * FROM ${t.table} WHERE ? IS NULL OR id > ? ORDER BY id LIMIT ?`).all(after, after, limit) as Row[];
    // Hashes made before they named their key were peppered under the key the database had then.
    const untaggedKey = keyCanaryKey(this.db, this.crypto);
    let changed = 0;
    for (const row of rows) {
      const sets: string[] = [];
      const values: unknown[] = [];
      for (const c of t.columns) {
        const where = aad(t.table, c.aadName, row.id);
        const { plaintext, keyId } = this.crypto.openWithId(row[c.sealed] as Buffer, where);
        if (keyId !== this.crypto.currentId) sets.push(`${c.sealed} = ?`), values.push(this.crypto.seal(plaintext, where));
        if (c.index) {
          const index = this.crypto.blindIndex(c.index.kind, plaintext);
          if (!index.equals(row[c.index.column] as Buffer)) sets.push(`${c.index.column} = ?`), values.push(index);
        }
      }
      for (const h of t.secretHashes ?? []) {
        const stored = row[h];
        if (typeof stored === 'string' && pepperKeyOf(stored) === null) sets.push(`${h} = ?`), values.push(tagPepperKey(stored, untaggedKey));
      }
      if (sets.length === 0) continue;
      this.db.prepare(`UPDATE ${t.table} SET ${sets.join(', ')} WHERE id = ?`).run(...values, row.id);
      changed += 1;
    }
    return { changed, last: rows.length === limit ? rows[rows.length - 1]!.id : null };
  }

  private dials(after: string | number | null, limit: number): Array<{ id: number; numberIndex: Buffer | null; phone: string }> {
    const rows = this.db
      .prepare(
        `SELECT d.id, d.number_index AS numberIndex, c.id AS consumerId, c.phone_sealed AS phoneSealed
         FROM dials d JOIN consumers c ON c.id = d.consumer_id WHERE ? IS NULL OR d.id > ? ORDER BY d.id LIMIT ?`,
      )
      .all(after, after, limit) as Array<{ id: number; numberIndex: Buffer | null; consumerId: string; phoneSealed: Buffer }>;
    return rows.map((r) => ({ id: r.id, numberIndex: r.numberIndex, phone: this.crypto.open(r.phoneSealed, aad('consumers', 'phone', r.consumerId)) }));
  }

  /** A dial's number is known only if it is the consumer's current one, under some held key. */
  private dialNeeds(d: { numberIndex: Buffer | null; phone: string }): 'ok' | 'rekey' | 'clear' {
    if (d.numberIndex === null || this.crypto.blindIndex('phone', d.phone).equals(d.numberIndex)) return 'ok';
    return this.crypto.ids.some((k) => this.crypto.blindIndexUnder(k, 'phone', d.phone).equals(d.numberIndex!)) ? 'rekey' : 'clear';
  }

  private rekeyDials(after: string | number | null, limit: number): { changed: number; last: number | null } {
    const rows = this.dials(after, limit);
    let changed = 0;
    for (const d of rows) {
      const need = this.dialNeeds(d);
      if (need === 'ok') continue;
      this.db.prepare('UPDATE dials SET number_index = ? WHERE id = ?').run(need === 'rekey' ? this.crypto.blindIndex('phone', d.phone) : null, d.id);
      changed += 1;
    }
    return { changed, last: rows.length === limit ? rows[rows.length - 1]!.id : null };
  }
}
