import { createHash, type Hash } from 'node:crypto';
import type { Db } from './db.js';
import { matchesAny } from '../crypto/keyring.js';
import type { FieldCrypto } from './field-crypto.js';
import type { Clock } from '../domain/clock.js';
import type { AuditDetails, AuditEntry, AuditInput, AuditVerdict } from '../domain/audit.js';

interface Row {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  details: string;
  prev_hash: Buffer;
  hash: Buffer;
}

const GENESIS = Buffer.alloc(32);
const PURPOSE = 'audit-log-chain';

/** Sorted keys, so the text (and so the hash) of a row's details does not depend on insertion order. */
function canonicalDetails(details: AuditDetails): string {
  return JSON.stringify(Object.fromEntries(Object.entries(details).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

/**
 * The hash-chained operator audit log. Each row's hash is a MAC (master-key subkey) over the previous
 * row's hash and the row's own fields, so editing, deleting or reordering rows breaks the chain from
 * that row on. Appends read the last hash and insert in one IMMEDIATE transaction: two operators'
 * commands at once still make one chain.
 */
export class AuditRepository {
  constructor(
    private readonly db: Db,
    private readonly crypto: FieldCrypto,
    private readonly clock: Clock,
  ) {}

  private text(prev: Buffer, r: Omit<Row, 'prev_hash' | 'hash'>): string {
    return `${prev.toString('hex')}\n${JSON.stringify([r.seq, r.at, r.actor, r.action, r.subject, r.details])}`;
  }

  private hashOf(prev: Buffer, r: Omit<Row, 'prev_hash' | 'hash'>): Buffer {
    return this.crypto.mac(PURPOSE, this.text(prev, r));
  }

  /** Unkeyed: lets a checkpoint vouch for rows whose key is no longer held. */
  private digestRow(digest: Hash, r: Row): void {
    digest.update(`${this.text(r.prev_hash, r)}\n${r.hash.toString('hex')}\n`);
  }

  /**
   * With `checkpoint`, the entry's details also carry `chainDigest`, an unkeyed SHA-256 over every
   * earlier row, computed in the same transaction. `callpay key rotate` writes one under the new key
   * when it finishes: rows MACed under a key that is later dropped stay verifiable through it.
   */
  append(input: AuditInput, opts: { checkpoint?: boolean } = {}): AuditEntry {
    return this.db.transaction((): AuditEntry => {
      const last = this.db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: Buffer } | undefined;
      // AUTOINCREMENT never reuses a number, even after the last row is removed: continue from sqlite_sequence.
      const used = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").pluck().get() as number | undefined;
      const seq = Math.max(last?.seq ?? 0, used ?? 0) + 1;
      const row = { seq, at: this.clock().toISOString(), actor: input.actor, action: input.action, subject: input.subject, details: canonicalDetails(input.details) };
      const prev = last?.hash ?? GENESIS;
      if (opts.checkpoint) {
        const digest = createHash('sha256');
        for (const r of this.rows()) this.digestRow(digest, r);
        row.details = canonicalDetails({ ...input.details, chainDigest: digest.digest('hex') });
      }
      this.db
        .prepare('INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(row.seq, row.at, row.actor, row.action, row.subject, row.details, prev, this.hashOf(prev, row));
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
      .all(opts.after ?? 0, opts.subject ?? null, opts.subject ?? null, opts.limit) as Array<Omit<Row, 'prev_hash' | 'hash'>>;
    return rows.map((r) => ({ seq: r.seq, at: r.at, actor: r.actor, action: r.action as AuditEntry['action'], subject: r.subject, details: JSON.parse(r.details) as AuditDetails }));
  }

  private rows(): IterableIterator<Row> {
    return this.db.prepare('SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log ORDER BY seq').iterate() as IterableIterator<Row>;
  }

  /**
   * Walks the whole chain in order (streamed, constant memory). A changed row fails its own MAC; a
   * deleted one breaks the next row's link or leaves a gap in the numbers; a deleted tail leaves the
   * last number handed out (sqlite_sequence) above the last row. A row MACed under a key no longer
   * held counts only when a later key-rotation checkpoint (MACed under a held key) vouches for it.
   */
  verify(): AuditVerdict {
    let prev: Buffer = GENESIS;
    let expected = 1;
    let rows = 0;
    let lastSeq: number | null = null;
    let unvouchedFrom: number | null = null;
    let rowsBeforeUnvouched = 0;
    const digest = createHash('sha256');
    for (const r of this.rows()) {
      // The earliest fault is the one reported: an unvouched row before a broken link comes first.
      const changed = (): AuditVerdict => ({ ok: false, rows: rowsBeforeUnvouched, brokenAt: unvouchedFrom!, reason: 'changed' });
      if (r.seq !== expected || !r.prev_hash.equals(prev)) return unvouchedFrom !== null ? changed() : { ok: false, rows, brokenAt: r.seq, reason: 'deleted' };
      if (!matchesAny(r.hash, this.crypto.macs(PURPOSE, this.text(prev, r)))) {
        if (unvouchedFrom === null) [unvouchedFrom, rowsBeforeUnvouched] = [r.seq, rows];
      } else if (unvouchedFrom !== null && r.action === 'key.rotate') {
        const vouched = (JSON.parse(r.details) as AuditDetails).chainDigest;
        if (typeof vouched === 'string') {
          if (vouched !== digest.copy().digest('hex')) return changed();
          unvouchedFrom = null;
        }
      }
      this.digestRow(digest, r);
      prev = r.hash;
      expected = r.seq + 1;
      lastSeq = r.seq;
      rows += 1;
    }
    // Nothing held vouches for these: changed, or MACed under a key that is not configured.
    if (unvouchedFrom !== null) return { ok: false, rows: rowsBeforeUnvouched, brokenAt: unvouchedFrom, reason: 'changed' };
    const used = (this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").pluck().get() as number | undefined) ?? 0;
    if (used > (lastSeq ?? 0)) return { ok: false, rows, brokenAt: (lastSeq ?? 0) + 1, reason: 'truncated' };
    return { ok: true, rows, lastSeq };
  }
}
