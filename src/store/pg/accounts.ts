import type { PgQueryable } from './db.js';
import { constraintOf, execute, inUnit, placeholders, queryOne, queryRows, sqlState } from './db.js';
import type { PgRepoDeps } from './deps.js';
import { PgLedger, availableOf, cycleUsageSql, type AvailableInputs } from './ledger.js';
import { aad } from '../field-crypto.js';
import { CallpayError, invalidField } from '../../domain/errors.js';
import type { AccountKind, AccountPlan, BillableAccount, NewAccount } from '../../domain/account.js';
import { newId } from '../../domain/ids.js';
import type { AccountRepository } from '../../payments/repositories.js';

interface AccountRow extends AvailableInputs {
  id: string;
  consumer_id: string;
  kind: AccountKind;
  number_sealed: Buffer;
  plan: AccountPlan;
  currency: string;
  credit_limit: number | null;
  is_default: 0 | 1;
  created_at: string;
  ledger_id: string | null;
}

const T = 'billable_accounts';
const NUMBER_UNIQUE = 'billable_accounts_number_index_key';

/**
 * The account with its ledger sums and (postpaid) the cycle's usage in one statement: one round
 * trip and one snapshot, so balance and available agree with each other. `$1` is the cycle.
 */
const SELECT_ACCOUNTS = `
  SELECT b.*, l.id AS ledger_id, l.credits_posted, l.debits_posted, l.debits_pending, ${cycleUsageSql('l.id', '$1')} AS cycle_usage
  FROM billable_accounts b LEFT JOIN ledger_accounts l ON l.billable_account_id = b.id`;

/** Billable accounts (mirrors src/store/accounts.ts); the number sealed, found by its blind index. */
export class PgAccountRepository implements AccountRepository {
  constructor(
    private readonly q: PgQueryable,
    private readonly d: PgRepoDeps,
    private readonly ledger: PgLedger,
  ) {}

  /**
   * The consumer's first account becomes the default whatever `makeDefault` says. Row lock on the
   * consumer (FOR NO KEY UPDATE: it does not block the foreign keys' KEY SHARE): two nodes adding
   * accounts for one consumer at once would otherwise both count none and both make theirs the default.
   */
  async add(input: NewAccount): Promise<BillableAccount> {
    if ((input.plan === 'postpaid') !== (input.creditLimit !== null)) {
      throw invalidField('credit-limit', 'a postpaid account needs a credit limit; a prepaid one has none');
    }
    const id = newId('acct');
    const now = this.d.clock().toISOString();
    const taken = () => new CallpayError('already_exists', 'number: this carrier account number is already billable', 'number');
    await inUnit(
      this.q,
      async (db) => {
        await execute(db, 'SELECT 1 FROM consumers WHERE id = $1 FOR NO KEY UPDATE', [input.consumerId]);
        const existing = await queryOne<{ n: number }>(db, 'SELECT count(*) AS n FROM billable_accounts WHERE consumer_id = $1', [input.consumerId]);
        // UNIQUE(number_index) sees one key's index; during a key rotation check the previous key's too.
        const indexes = this.d.crypto.blindIndexes('account_number', input.number);
        if (await queryOne(db, `SELECT 1 AS x FROM billable_accounts WHERE number_index IN (${placeholders(1, indexes.length)})`, indexes)) throw taken();
        const isDefault = existing?.n === 0 || input.makeDefault;
        if (isDefault) await execute(db, 'UPDATE billable_accounts SET is_default = 0 WHERE consumer_id = $1 AND is_default = 1', [input.consumerId]);
        try {
          await execute(
            db,
            `INSERT INTO billable_accounts (id, consumer_id, kind, number_index, number_sealed, plan, currency, credit_limit, is_default, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
            [
              id,
              input.consumerId,
              input.kind,
              this.d.crypto.blindIndex('account_number', input.number),
              this.d.crypto.seal(input.number, aad(T, 'number', id)),
              input.plan,
              input.currency,
              input.creditLimit,
              isDefault ? 1 : 0,
              now,
            ],
          );
        } catch (e) {
          // the same number added by another node for another consumer, committed after our check
          if (sqlState(e) === '23505' && constraintOf(e) === NUMBER_UNIQUE) throw taken();
          throw e;
        }
        await new PgLedger(db, this.d).openConsumerAccount(id, input.currency);
      },
      // already_exists is a CallpayError a caller may catch and go on after: not in an aborted transaction
      { savepoint: true },
    );
    return this.get(id);
  }

  async get(id: string): Promise<BillableAccount> {
    const row = await queryOne<AccountRow>(this.q, `${SELECT_ACCOUNTS} WHERE b.id = $2`, [this.cycle(), id]);
    if (!row) throw new CallpayError('not_found', `account: no billable account ${id}`, 'account');
    return this.fromRow(row);
  }

  async listForConsumer(consumerId: string): Promise<BillableAccount[]> {
    const rows = await queryRows<AccountRow>(this.q, `${SELECT_ACCOUNTS} WHERE b.consumer_id = $2 ORDER BY b.is_default DESC, b.created_at, b.id`, [
      this.cycle(),
      consumerId,
    ]);
    return rows.map((r) => this.fromRow(r));
  }

  async defaultFor(consumerId: string): Promise<BillableAccount | undefined> {
    const row = await queryOne<AccountRow>(this.q, `${SELECT_ACCOUNTS} WHERE b.consumer_id = $2 AND b.is_default = 1`, [this.cycle(), consumerId]);
    return row && this.fromRow(row);
  }

  /**
   * Adds prepaid credit: a posted ledger transfer from the carrier's top-up account. The plan never
   * changes after `add`, so checking it before the ledger's own unit (which locks the account) is safe.
   */
  async topup(id: string, amount: number, memo: string | null): Promise<BillableAccount> {
    if (!Number.isSafeInteger(amount) || amount <= 0) throw invalidField('amount', 'expected a positive amount');
    const account = await this.get(id);
    if (account.plan !== 'prepaid') {
      throw new CallpayError('invalid_state', `account: ${id} is postpaid; only prepaid accounts are topped up`, 'account');
    }
    await this.ledger.topup(id, amount, memo);
    return this.get(id);
  }

  /** The carrier number of a row selected elsewhere (the bill), opened with this table's AAD. */
  openNumber(id: string, sealed: Buffer): string {
    return this.d.crypto.open(sealed, aad(T, 'number', id));
  }

  private fromRow(row: AccountRow): BillableAccount {
    if (row.ledger_id === null) throw new CallpayError('not_found', `account: no ledger account for ${row.id}`, 'account');
    return {
      id: row.id,
      consumerId: row.consumer_id,
      kind: row.kind,
      number: this.openNumber(row.id, row.number_sealed),
      plan: row.plan,
      currency: row.currency,
      balance: row.plan === 'prepaid' ? row.credits_posted - row.debits_posted : 0,
      available: availableOf(row),
      creditLimit: row.credit_limit,
      isDefault: row.is_default === 1,
      createdAt: row.created_at,
    };
  }

  private cycle(): string {
    return this.d.cycleOf(this.d.clock());
  }
}
