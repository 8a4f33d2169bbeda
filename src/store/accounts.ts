import type { Db } from './db.js';
import { isUniqueViolation } from './db.js';
import { aad, indexIn, type FieldCrypto } from './field-crypto.js';
import { CallpayError, invalidField } from '../domain/errors.js';
import type { AccountKind, AccountPlan } from '../domain/account.js';
import type { Ledger } from './ledger.js';
import type { BillableAccount, NewAccount } from '../domain/account.js';
import type { Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';

interface AccountRow {
  id: string;
  consumer_id: string;
  kind: AccountKind;
  number_sealed: Buffer;
  plan: AccountPlan;
  currency: string;
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
    private readonly ledger: Ledger,
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
      // UNIQUE(number_index) sees one key's index; during a key rotation check the previous key's too.
      const indexes = this.crypto.blindIndexes('account_number', input.number);
      if (this.db.prepare(`SELECT 1 FROM billable_accounts WHERE ${indexIn('number_index', indexes)}`).get(...indexes)) {
        throw new CallpayError('already_exists', 'number: this carrier account number is already billable', 'number');
      }
      const isDefault = existing === 0 || input.makeDefault;
      if (isDefault) this.db.prepare('UPDATE billable_accounts SET is_default = 0 WHERE consumer_id = ?').run(input.consumerId);
      try {
        this.db
          .prepare(
            `INSERT INTO billable_accounts (id, consumer_id, kind, number_index, number_sealed, plan, currency,
               credit_limit, is_default, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
      this.ledger.openConsumerAccount(id, input.currency);
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

  /** Adds prepaid credit: a posted ledger transfer from the carrier's top-up account. */
  topup(id: string, amount: number, memo: string | null): BillableAccount {
    if (!Number.isSafeInteger(amount) || amount <= 0) throw invalidField('amount', 'expected a positive amount');
    this.db.transaction(() => {
      const account = this.get(id);
      if (account.plan !== 'prepaid') {
        throw new CallpayError('invalid_state', `account: ${id} is postpaid; only prepaid accounts are topped up`, 'account');
      }
      this.ledger.topup(id, amount, memo);
    }).immediate();
    return this.get(id);
  }

  private fromRow(row: AccountRow): BillableAccount {
    const sums = this.db
      .prepare('SELECT credits_posted - debits_posted FROM ledger_accounts WHERE billable_account_id = ?')
      .pluck()
      .get(row.id) as number | undefined;
    return {
      id: row.id,
      consumerId: row.consumer_id,
      kind: row.kind,
      number: this.crypto.open(row.number_sealed, aad(T, 'number', row.id)),
      plan: row.plan,
      currency: row.currency,
      balance: row.plan === 'prepaid' ? (sums ?? 0) : 0,
      available: this.ledger.available(row.id),
      creditLimit: row.credit_limit,
      isDefault: row.is_default === 1,
      createdAt: row.created_at,
    };
  }
}
