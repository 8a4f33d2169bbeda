// One consistent read of the database (a single read transaction on a read-only connection of our
// own), with every row the checks need. The daemon may be running: WAL lets it write meanwhile.
import Database from 'better-sqlite3';

export interface AccountRow {
  id: string;
  code: 'consumer' | 'merchant' | 'carrier_topups';
  billable_account_id: string | null;
  currency: string;
  debits_pending: number;
  debits_posted: number;
  credits_pending: number;
  credits_posted: number;
  plan: 'prepaid' | 'postpaid' | null;
  credit_limit: number | null;
}

export interface TransferRow {
  id: string;
  kind: 'topup' | 'hold' | 'post' | 'void' | 'refund';
  debit_account_id: string;
  credit_account_id: string;
  amount: number;
  currency: string;
  pending_id: string | null;
  payment_id: string | null;
  refund_id: string | null;
  cycle: string;
}

export interface PaymentRow {
  id: string;
  merchant_id: string;
  amount: number;
  currency: string;
  reference: string;
  billable_account_id: string | null;
  status: string;
  decision: string | null;
  amount_refunded: number;
  authorized_at: string | null;
  expires_at: string;
}

export interface TransitionRow {
  payment_id: string;
  from_status: string | null;
  to_status: string;
}

export interface RefundRow {
  id: string;
  payment_id: string;
  amount: number;
  reason: string | null;
}

export interface Snapshot {
  takenAt: number;
  integrity: string[];
  foreignKeyProblems: number;
  accounts: AccountRow[];
  transfers: TransferRow[];
  payments: PaymentRow[];
  /** In order of `seq`. */
  transitions: TransitionRow[];
  refunds: RefundRow[];
  events: Array<{ payment_id: string | null; type: string }>;
  idempotency: Array<{ merchant_id: string; key: string; status_code: number; response: string }>;
  callOutcomes: Array<{ outcome: string; n: number }>;
}

export function readSnapshot(dbFile: string): Snapshot {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const all = <T>(sql: string) => db.prepare(sql).all() as T[];
    return db.transaction((): Snapshot => ({
      takenAt: Date.now(),
      integrity: (db.pragma('integrity_check') as Array<Record<string, unknown>>).map((r) => String(Object.values(r)[0])),
      foreignKeyProblems: (db.pragma('foreign_key_check') as unknown[]).length,
      accounts: all<AccountRow>(`SELECT l.id, l.code, l.billable_account_id, l.currency, l.debits_pending, l.debits_posted,
          l.credits_pending, l.credits_posted, b.plan, b.credit_limit
        FROM ledger_accounts l LEFT JOIN billable_accounts b ON b.id = l.billable_account_id`),
      transfers: all<TransferRow>('SELECT id, kind, debit_account_id, credit_account_id, amount, currency, pending_id, payment_id, refund_id, cycle FROM transfers ORDER BY rowid'),
      payments: all<PaymentRow>(`SELECT id, merchant_id, amount, currency, reference, billable_account_id, status, decision,
          amount_refunded, authorized_at, expires_at FROM payments`),
      transitions: all<TransitionRow>('SELECT payment_id, from_status, to_status FROM payment_transitions ORDER BY seq'),
      refunds: all<RefundRow>('SELECT id, payment_id, amount, reason FROM refunds'),
      events: all<{ payment_id: string | null; type: string }>('SELECT payment_id, type FROM events'),
      idempotency: all<{ merchant_id: string; key: string; status_code: number; response: string }>('SELECT merchant_id, key, status_code, response FROM idempotency_keys'),
      callOutcomes: all<{ outcome: string; n: number }>('SELECT outcome, count(*) AS n FROM call_attempts GROUP BY outcome'),
    })).deferred();
  } finally {
    db.close();
  }
}
