import type { Db, Clock } from './db.js';
import { newId, isUniqueViolation } from './db.js';
import { aad, type FieldCrypto } from './field-crypto.js';
import { CallpayError, invalidField } from '../domain/errors.js';
import type { AccountKind, AccountPlan } from '../domain/account.js';

export interface BillableAccount {
  id: string;
  consumerId: string;
  kind: AccountKind;
  number: string;
  plan: AccountPlan;
  currency: string;
  /** Prepaid balance in minor units (0 for postpaid). */
  balance: number;
  /** Postpaid credit per billing cycle in minor units; null for prepaid. */
  creditLimit: number | null;
  isDefault: boolean;
  createdAt: string;
}

export interface NewAccount {
  consumerId: string;
  kind: AccountKind;
  number: string;
  plan: AccountPlan;
  currency: string;
  creditLimit: number | null;
  makeDefault: boolean;
}

interface AccountRow {
  id: string;
  consumer_id: string;
  kind: AccountKind;
  number_sealed: Buffer;
  plan: AccountPlan;
  currency: string;
  balance: number;
  credit_limit: number | null;
  is_default: 0 | 1;
  created_at: string;
}

const T = 'billable_accounts';

export class AccountRepository {
  constructor(
    private readonly db: Db,
    private readonly crypto: FieldCrypto,
    private readonly clock: Clock,
  ) {}

  /** The consumer's first account becomes the default whatever `makeDefault` says. */
  add(input: NewAccount): BillableAccount {
    if ((input.plan === 'postpaid') !== (input.creditLimit !== null)) {
      throw invalidField('credit-limit', 'a postpaid account needs a credit limit; a prepaid one has none');
    }
    const id = newId('acct');
    const now = this.clock().toISOString();
    this.db.transaction(() => {
      const existing = this.db
        .prepare('SELECT count(*) FROM billable_accounts WHERE consumer_id = ?')
        .pluck()
        .get(input.consumerId) as number;
      const isDefault = existing === 0 || input.makeDefault;
      if (isDefault) this.db.prepare('UPDATE billable_accounts SET is_default = 0 WHERE consumer_id = ?').run(input.consumerId);
      try {
        this.db
          .prepare(
            `INSERT INTO billable_accounts (id, consumer_id, kind, number_index, number_sealed, plan, currency, balance,
               credit_limit, is_default, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
          )
          .run(
            id,
            input.consumerId,
            input.kind,
            this.crypto.blindIndex('account_number', input.number),
            this.crypto.seal(input.number, aad(T, 'number', id)),
            input.plan,
            input.currency,
            input.creditLimit,
            isDefault ? 1 : 0,
            now,
          );
      } catch (e) {
        if (isUniqueViolation(e)) {
          throw new CallpayError('already_exists', 'number: this carrier account number is already billable', 'number');
        }
        throw e;
      }
    }).immediate();
    return this.get(id);
  }

  get(id: string): BillableAccount {
    const row = this.db.prepare('SELECT * FROM billable_accounts WHERE id = ?').get(id) as AccountRow | undefined;
    if (!row) throw new CallpayError('not_found', `account: no billable account ${id}`, 'account');
    return this.fromRow(row);
  }

  listForConsumer(consumerId: string): BillableAccount[] {
    const rows = this.db
      .prepare('SELECT * FROM billable_accounts WHERE consumer_id = ? ORDER BY is_default DESC, created_at, id')
      .all(consumerId) as AccountRow[];
    return rows.map((r) => this.fromRow(r));
  }

  defaultFor(consumerId: string): BillableAccount | undefined {
    const row = this.db
      .prepare('SELECT * FROM billable_accounts WHERE consumer_id = ? AND is_default = 1')
      .get(consumerId) as AccountRow | undefined;
    return row && this.fromRow(row);
  }

  /** Adds prepaid credit: one ledger entry and the cached balance, in one transaction. */
  topup(id: string, amount: number, memo: string | null): BillableAccount {
    if (!Number.isSafeInteger(amount) || amount <= 0) throw invalidField('amount', 'expected a positive amount');
    this.db.transaction(() => {
      const account = this.get(id);
      if (account.plan !== 'prepaid') {
        throw new CallpayError('invalid_state', `account: ${id} is postpaid; only prepaid accounts are topped up`, 'account');
      }
      this.db
        .prepare(
          `INSERT INTO ledger_entries (id, account_id, kind, amount, currency, memo, created_at)
           VALUES (?, ?, 'topup', ?, ?, ?, ?)`,
        )
        .run(newId('led'), id, amount, account.currency, memo, this.clock().toISOString());
      this.db.prepare('UPDATE billable_accounts SET balance = balance + ? WHERE id = ?').run(amount, id);
    }).immediate();
    return this.get(id);
  }

  private fromRow(row: AccountRow): BillableAccount {
    return {
      id: row.id,
      consumerId: row.consumer_id,
      kind: row.kind,
      number: this.crypto.open(row.number_sealed, aad(T, 'number', row.id)),
      plan: row.plan,
      currency: row.currency,
      balance: row.balance,
      creditLimit: row.credit_limit,
      isDefault: row.is_default === 1,
      createdAt: row.created_at,
    };
  }
}
