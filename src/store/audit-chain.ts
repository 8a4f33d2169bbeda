import { createHash } from 'node:crypto';
import { matchesAny } from '../crypto/keyring.js';
import type { AuditDetails, AuditEntry, AuditVerdict } from '../domain/audit.js';
import type { FieldCrypto } from './field-crypto.js';

/**
 * The audit chain's rules, shared by the SQLite and PostgreSQL stores so a chain copied from one
 * verifies in the other: the row text, its MAC, the checkpoint digest and the walk that verifies.
 */

export interface ChainRow {
  seq: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  details: string;
  prev_hash: Buffer;
  hash: Buffer;
}

export type ChainFields = Omit<ChainRow, 'prev_hash' | 'hash'>;

export const GENESIS = Buffer.alloc(32);
const PURPOSE = 'audit-log-chain';

/** Sorted keys, so the text (and so the hash) of a row's details does not depend on insertion order. */
export function canonicalDetails(details: AuditDetails): string {
  return JSON.stringify(Object.fromEntries(Object.entries(details).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

function chainText(prev: Buffer, r: ChainFields): string {
  return `${prev.toString('hex')}\n${JSON.stringify([r.seq, r.at, r.actor, r.action, r.subject, r.details])}`;
}

/** A row's hash: a MAC (master-key subkey) over the previous row's hash and the row's own fields. */
export function chainHash(crypto: FieldCrypto, prev: Buffer, r: ChainFields): Buffer {
  return crypto.mac(PURPOSE, chainText(prev, r));
}

/** Unkeyed SHA-256 over rows: a key rotation's checkpoint vouches with it for rows under a dropped key. */
export class ChainDigest {
  private readonly hash = createHash('sha256');

  add(r: ChainRow): void {
    this.hash.update(`${chainText(r.prev_hash, r)}\n${r.hash.toString('hex')}\n`);
  }

  /** The digest so far (adding may go on). */
  hex(): string {
    return this.hash.copy().digest('hex');
  }
}

/** A stored row as an entry. */
export function entryOf(r: ChainFields): AuditEntry {
  return { seq: r.seq, at: r.at, actor: r.actor, action: r.action as AuditEntry['action'], subject: r.subject, details: JSON.parse(r.details) as AuditDetails };
}

/**
 * Verifies rows fed in seq order, in constant memory. A changed row fails its own MAC; a deleted one
 * breaks the next row's link or leaves a gap in the numbers; a deleted tail leaves the last number
 * handed out above the last row. A row MACed under a key no longer held counts only when a later
 * key-rotation checkpoint (MACed under a held key) vouches for it. The earliest fault is reported.
 */
export class ChainWalk {
  private prev: Buffer = GENESIS;
  private expected = 1;
  private rows = 0;
  private lastSeq: number | null = null;
  private unvouchedFrom: number | null = null;
  private rowsBeforeUnvouched = 0;
  private readonly digest = new ChainDigest();

  constructor(private readonly crypto: FieldCrypto) {}

  /** null while the chain holds so far; the verdict at the first fault. */
  step(r: ChainRow): AuditVerdict | null {
    if (r.seq !== this.expected || !r.prev_hash.equals(this.prev)) {
      return this.unvouchedFrom !== null ? this.changed() : { ok: false, rows: this.rows, brokenAt: r.seq, reason: 'deleted' };
    }
    if (!matchesAny(r.hash, this.crypto.macs(PURPOSE, chainText(this.prev, r)))) {
      if (this.unvouchedFrom === null) [this.unvouchedFrom, this.rowsBeforeUnvouched] = [r.seq, this.rows];
    } else if (this.unvouchedFrom !== null && r.action === 'key.rotate') {
      const vouched = (JSON.parse(r.details) as AuditDetails).chainDigest;
      if (typeof vouched === 'string') {
        if (vouched !== this.digest.hex()) return this.changed();
        this.unvouchedFrom = null;
      }
    }
    this.digest.add(r);
    this.prev = r.hash;
    this.expected = r.seq + 1;
    this.lastSeq = r.seq;
    this.rows += 1;
    return null;
  }

  /** After the last row: `usedSeq` is the highest number the store ever handed out. */
  finish(usedSeq: number): AuditVerdict {
    // Nothing held vouches for these: changed, or MACed under a key that is not configured.
    if (this.unvouchedFrom !== null) return this.changed();
    if (usedSeq > (this.lastSeq ?? 0)) return { ok: false, rows: this.rows, brokenAt: (this.lastSeq ?? 0) + 1, reason: 'truncated' };
    return { ok: true, rows: this.rows, lastSeq: this.lastSeq };
  }

  private changed(): AuditVerdict {
    return { ok: false, rows: this.rowsBeforeUnvouched, brokenAt: this.unvouchedFrom!, reason: 'changed' };
  }
}
