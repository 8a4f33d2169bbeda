import type { PgQueryable } from './db.js';
import { execute, inUnit, queryOne, queryRows } from './db.js';
import type { PgRepoDeps } from './deps.js';
import { ChainDigest, ChainWalk, GENESIS, canonicalDetails, chainHash, entryOf, type ChainFields, type ChainRow } from '../audit-chain.js';
import type { AuditDetails, AuditEntry, AuditInput, AuditVerdict } from '../../domain/audit.js';
import type { AuditRepository } from '../../payments/repositories.js';

/** The meta row holding the highest number the chain has handed out; see `append`. */
const HEAD = 'audit_head';
/** Rows read per statement when walking the whole chain. */
const PAGE = 1000;
const COLUMNS = 'seq, at, actor, action, subject, details, prev_hash, hash';

/**
 * The hash-chained operator audit log, by the same rules as SQLite's (audit-chain.ts), so a chain
 * copied from SQLite verifies here.
 *
 * "Never reuse a number" (SQLite's AUTOINCREMENT, read from sqlite_sequence) is a chain-head row in
 * `meta` written in the append's own transaction, not the identity sequence: a sequence advances
 * outside transactions, so an append rolled back after taking a number would leave a gap, or a
 * sequence value above the last row, and `verify` would report a deletion or a truncation that
 * never happened. The sequence still counts as evidence where something set it (`store copy` moves
 * it past the numbers it copied); appends never touch it.
 */
export class PgAuditRepository implements AuditRepository {
  constructor(private readonly q: PgQueryable, private readonly d: PgRepoDeps) {}

  /**
   * Read-then-write of the chain's tail by several nodes: the head row is locked (SELECT … FOR
   * UPDATE) for the rest of the transaction, so appends run one at a time across the cluster, and
   * each one's read of the last row (a new statement under READ COMMITTED) sees the previous one's.
   * With `checkpoint`, the details also carry `chainDigest`, SHA-256 over every earlier row.
   */
  async append(input: AuditInput, opts: { checkpoint?: boolean } = {}): Promise<AuditEntry> {
    return inUnit(this.q, async (db) => {
      const headSeq = await this.lockHead(db);
      const last = await queryOne<{ seq: number; hash: Buffer }>(db, 'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
      const seq = Math.max(last?.seq ?? 0, headSeq, await this.sequenceUsed(db)) + 1;
      const row: ChainFields = { seq, at: this.d.clock().toISOString(), actor: input.actor, action: input.action, subject: input.subject, details: canonicalDetails(input.details) };
      const prev = last?.hash ?? GENESIS;
      if (opts.checkpoint) {
        const digest = new ChainDigest();
        for await (const r of this.rows(db)) digest.add(r);
        row.details = canonicalDetails({ ...input.details, chainDigest: digest.hex() });
      }
      await execute(db, `INSERT INTO audit_log (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
        row.seq, row.at, row.actor, row.action, row.subject, row.details, prev, chainHash(this.d.crypto, prev, row),
      ]);
      await execute(db, 'UPDATE meta SET value = $1 WHERE name = $2', [Buffer.from(String(seq), 'ascii'), HEAD]);
      return { ...input, details: JSON.parse(row.details) as AuditDetails, seq, at: row.at };
    });
  }

  async list(opts: { limit: number; after?: number; subject?: string }): Promise<AuditEntry[]> {
    const rows = await queryRows<ChainFields>(
      this.q,
      'SELECT seq, at, actor, action, subject, details FROM audit_log WHERE seq > $1 AND ($2::text IS NULL OR subject = $2) ORDER BY seq LIMIT $3',
      [opts.after ?? 0, opts.subject ?? null, opts.limit],
    );
    return rows.map(entryOf);
  }

  /**
   * Walks the whole chain in order, a page at a time (constant memory), exactly as SQLite's verify.
   * The highest number handed out is read first: rows up to it had committed by then (the head
   * moves in their transaction), and appends during the walk only lengthen what it sees.
   */
  async verify(): Promise<AuditVerdict> {
    const used = Math.max(await this.headSeq(this.q), await this.sequenceUsed(this.q));
    const walk = new ChainWalk(this.d.crypto);
    for await (const r of this.rows(this.q)) {
      const broken = walk.step(r);
      if (broken) return broken;
    }
    return walk.finish(used);
  }

  /** Every row in order, a page per statement. */
  private async *rows(db: PgQueryable): AsyncGenerator<ChainRow> {
    for (let after = 0; ;) {
      const page = await queryRows<ChainRow>(db, `SELECT ${COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, [after, PAGE]);
      yield* page;
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.seq;
    }
  }

  /** Locks the chain head (creating it on the first append) and returns the number it holds. */
  private async lockHead(db: PgQueryable): Promise<number> {
    const select = 'SELECT value FROM meta WHERE name = $1 FOR UPDATE';
    let head = await queryOne<{ value: Buffer }>(db, select, [HEAD]);
    if (!head) {
      // Two first appends at once: one inserts, the other waits for it and then does nothing.
      await execute(db, 'INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [HEAD, Buffer.from('0', 'ascii')]);
      head = await queryOne<{ value: Buffer }>(db, select, [HEAD]);
    }
    return Number(head!.value.toString('ascii'));
  }

  private async headSeq(db: PgQueryable): Promise<number> {
    const head = await queryOne<{ value: Buffer }>(db, 'SELECT value FROM meta WHERE name = $1', [HEAD]);
    return head ? Number(head.value.toString('ascii')) : 0;
  }

  /**
   * The highest number the identity has handed out or been moved past: `store copy` leaves it
   * `setval(n + 1, false)` after copying rows up to n (and SQLite's sqlite_sequence), so an unused
   * next value counts as n. The sequence is the identity's own, named by PostgreSQL's rule.
   */
  private async sequenceUsed(db: PgQueryable): Promise<number> {
    const row = await queryOne<{ last_value: number; is_called: boolean }>(db, 'SELECT last_value, is_called FROM audit_log_seq_seq');
    return row ? (row.is_called ? row.last_value : row.last_value - 1) : 0;
  }
}
