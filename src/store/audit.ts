import type { Db } from './db.js';
import type { FieldCrypto } from './field-crypto.js';
import { ChainDigest, ChainWalk, GENESIS, canonicalDetails, chainHash, entryOf, type ChainFields, type ChainRow } from './audit-chain.js';
import type { Clock } from '../domain/clock.js';
import type { AuditDetails, AuditEntry, AuditInput, AuditVerdict } from '../domain/audit.js';

/**
 * The hash-chained operator audit log (rules in audit-chain.ts). Each row's hash is a MAC over the
 * previous row's hash and the row's own fields, so editing, deleting or reordering rows breaks the
 * chain from that row on. Appends read the last hash and insert in one IMMEDIATE transaction: two
 * operators' commands at once still make one chain.
 */
export class AuditRepository {
  constructor(
    private readonly db: Db,
    private readonly crypto: FieldCrypto,
    private readonly clock: Clock,
  ) {}

  /**
   * With `checkpoint`, the entry's details also carry `chainDigest`, an unkeyed SHA-256 over every
   * earlier row, computed in the same transaction. `callpay key rotate` writes one under the new key
   * when it finishes: rows MACed under a key that is later dropped stay verifiable through it.
   */
  append(input: AuditInput, opts: { checkpoint?: boolean } = {}): AuditEntry {
    return this.db.transaction((): AuditEntry => {
      const last = this.db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: Buffer } | undefined;
      const seq = Math.max(last?.seq ?? 0, this.usedSeq()) + 1;
      const row: ChainFields = { seq, at: this.clock().toISOString(), actor: input.actor, action: input.action, subject: input.subject, details: canonicalDetails(input.details) };
      const prev = last?.hash ?? GENESIS;
      if (opts.checkpoint) {
        const digest = new ChainDigest();
        for (const r of this.rows()) digest.add(r);
        row.details = canonicalDetails({ ...input.details, chainDigest: digest.hex() });
      }
      this.db
        .prepare('INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(row.seq, row.at, row.actor, row.action, row.subject, row.details, prev, chainHash(this.crypto, prev, row));
      return { ...input, details: JSON.parse(row.details) as AuditDetails, seq, at: row.at };
    }).immediate();
  }

  /** Oldest first, after `after` (pagination); optionally only one subject. */
  list(opts: { limit: number; after?: number; subject?: string }): AuditEntry[] {
    const rows = this.db
      .prepare(
        `SELECT seq, at, actor, action, subject, details FROM audit_log
         WHERE seq > ? AND (? IS NULL OR subject = ?) ORDER BY seq LIMIT ?`,
      )
      .all(opts.after ?? 0, opts.subject ?? null, opts.subject ?? null, opts.limit) as ChainFields[];
    return rows.map(entryOf);
  }

  /** Walks the whole chain in order (streamed, constant memory); see ChainWalk. */
  verify(): AuditVerdict {
    const walk = new ChainWalk(this.crypto);
    for (const r of this.rows()) {
      const broken = walk.step(r);
      if (broken) return broken;
    }
    return walk.finish(this.usedSeq());
  }

  private rows(): IterableIterator<ChainRow> {
    return this.db.prepare('SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log ORDER BY seq').iterate() as IterableIterator<ChainRow>;
  }

  /** AUTOINCREMENT never reuses a number, even after the last row is removed: the highest handed out. */
  private usedSeq(): number {
    return (this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").pluck().get() as number | undefined) ?? 0;
  }
}
