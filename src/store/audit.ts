import type { Db } from './db.js';
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

  private hashOf(prev: Buffer, r: Omit<Row, 'prev_hash' | 'hash'>): Buffer {
    return this.crypto.mac(PURPOSE, `${prev.toString('hex')}\n${JSON.stringify([r.seq, r.at, r.actor, r.action, r.subject, r.details])}`);
  }

  append(input: AuditInput): AuditEntry {
    return this.db.transaction((): AuditEntry => {
      const last = this.db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: Buffer } | undefined;
      // AUTOINCREMENT never reuses a number, even after the last row is removed: continue from sqlite_sequence.
      const used = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").pluck().get() as number | undefined;
      const seq = Math.max(last?.seq ?? 0, used ?? 0) + 1;
      const row = { seq, at: this.clock().toISOString(), actor: input.actor, action: input.action, subject: input.subject, details: canonicalDetails(input.details) };
      const prev = last?.hash ?? GENESIS;
      this.db
        .prepare('INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(row.seq, row.at, row.actor, row.action, row.subject, row.details, prev, this.hashOf(prev, row));
      return { ...input, seq, at: row.at };
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

  /**
   * Walks the whole chain in order (streamed, constant memory). A changed row fails its own MAC; a
   * deleted one breaks the next row's link or leaves a gap in the numbers; a deleted tail leaves the
   * last number handed out (sqlite_sequence) above the last row.
   */
  verify(): AuditVerdict {
    let prev: Buffer = GENESIS;
    let expected = 1;
    let rows = 0;
    let lastSeq: number | null = null;
    for (const r of this.db.prepare('SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log ORDER BY seq').iterate() as IterableIterator<Row>) {
      if (r.seq !== expected || !r.prev_hash.equals(prev)) return { ok: false, rows, brokenAt: r.seq, reason: 'deleted' };
      if (!this.hashOf(prev, r).equals(r.hash)) return { ok: false, rows, brokenAt: r.seq, reason: 'changed' };
      prev = r.hash;
      expected = r.seq + 1;
      lastSeq = r.seq;
      rows += 1;
    }
    const used = (this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").pluck().get() as number | undefined) ?? 0;
    if (used > (lastSeq ?? 0)) return { ok: false, rows, brokenAt: (lastSeq ?? 0) + 1, reason: 'truncated' };
    return { ok: true, rows, lastSeq };
  }
}
