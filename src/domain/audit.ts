/**
 * The operator audit log (issue 13, item 7): every operator action that reveals or changes personal
 * data, balances, locks, merchants' credentials or keys. Entries name what was touched by id and which
 * fields changed, never the values: the log is read by more people than the data it describes.
 */

export const AUDIT_ACTIONS = [
  'consumer.add', 'consumer.reveal', 'consumer.update', 'consumer.set_pin', 'consumer.set_password', 'consumer.policy',
  'consumer.lock', 'consumer.unlock', 'consumer.close',
  // Changes consumers make themselves by calling in (issue 16 item 2); the actor is "self-service".
  'consumer.self_set_pin', 'consumer.self_policy', 'consumer.self_lock', 'consumer.self_unlock',
  'account.add', 'account.reveal', 'account.topup',
  'merchant.add', 'merchant.rotate_key', 'merchant.rotate_webhook_secret', 'merchant.disable', 'merchant.enable', 'merchant.set_voice',
  'key.rotate',
  // Fraud reported on a call (recorded by callpay itself, actor SYSTEM_ACTOR) and the allowance it locks.
  'payment.fraud_report', 'consumer.allowance_lock', 'consumer.allowance_unlock',
] as const;

/** The actor of entries callpay writes on its own (a fraud report's consequences), not an operator's. */
export const SYSTEM_ACTOR = 'callpay';

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Field names, ids, counts and amounts only. */
export type AuditDetails = Record<string, string | number | boolean | null | string[]>;

export interface AuditInput {
  /** The operating-system user who ran the command (and who they were before sudo). */
  actor: string;
  action: AuditAction;
  /** The id acted on (cons_…, acct_…, mch_…), or "*" for many. */
  subject: string;
  details: AuditDetails;
}

export interface AuditEntry extends AuditInput {
  seq: number;
  at: string;
}

/** What `audit verify` found: the first row whose chain does not hold, if any. */
export type AuditVerdict =
  | { ok: true; rows: number; lastSeq: number | null }
  | { ok: false; rows: number; brokenAt: number; reason: 'changed' | 'deleted' | 'truncated' };
