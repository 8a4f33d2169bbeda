import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { DEFAULT_POLICY, type NewConsumer } from '../../src/domain/consumer.js';
import { newId } from '../../src/domain/ids.js';
import type { NewPayment } from '../../src/domain/payment.js';
import type { Decision } from '../../src/domain/policy.js';
import type { AuditAction } from '../../src/domain/audit.js';
import type { Store } from '../../src/payments/repositories.js';
import { startPostgres, type PgCluster } from './postgres.js';
import { openTestStore, secondNode, type StoreDriver, type TestStore, type TestStoreOptions } from './stores.js';

/**
 * The world of the repository contract tests (part A): one PostgreSQL cluster per test file, every
 * store a test opens closed after it, one clock the test moves, and fixtures with defaults.
 */

export const DRIVERS: Array<[StoreDriver]> = [['sqlite'], ['postgres']];

export const T0 = Date.parse('2026-11-30T10:00:00.000Z');
/** The stores' clock; each test starts at T0 and moves it. */
export const time = { now: T0 };
export const at = (ms: number) => new Date(T0 + ms).toISOString();

export const merchantInput = (name = 'Night Market', webhookUrl: string | null = null) => ({ displayName: name, spokenName: name, webhookUrl });
export const consumerInput = (login = 'alice', phone = '+886912345678'): NewConsumer => ({
  login, phone, nationalId: 'A123456789', address: 'No. 7, Section 1, Zhongshan Rd', locale: 'en-US', pinHash: 'pin-hash-1', passwordHash: null, policy: DEFAULT_POLICY,
});
let idTime = T0;
/** Ids in creation order (newId's time part is the wall clock; within one millisecond the order is random). */
export const payment = (merchantId: string, over: Partial<NewPayment> = {}): NewPayment => ({
  id: newId('pay', ++idTime), merchantId, amount: 500, currency: 'TWD', reference: 'order-1', description: 'tea',
  returnUrl: 'https://shop.example/return', metadata: { cart: '7' }, expiresAt: at(15 * 60_000), live: true, ...over,
});
export const decided = (steps: Array<'password' | 'call'>): Decision => ({ allowed: true, steps, reasons: [] });
export const entry = (action: AuditAction, subject = 'cons_1') => ({ actor: 'mei', action, subject, details: { fields: ['address'] } });

export interface ContractStores {
  /** A new store (a new database), or with `at` another connection to an existing one. */
  open(o?: Omit<TestStoreOptions, 'cluster'>): Promise<TestStore>;
  /** A second node on `first`'s database (see secondNode). */
  another(first: TestStore): Promise<TestStore>;
  withMerchant(s: Store, webhookUrl?: string | null): Promise<string>;
  /** PostgreSQL: the file's cluster. */
  cluster(): PgCluster;
}

/** Registers the file's hooks (call at the top level) and returns the store openers per driver. */
export function useContractWorld(): (driver: StoreDriver) => ContractStores {
  let cluster: PgCluster | undefined;
  let notStarted: unknown;
  const opened: TestStore[] = [];
  // A cluster that cannot start fails every PostgreSQL test by name, not only the file.
  beforeAll(async () => {
    try {
      cluster = await startPostgres();
    } catch (err) {
      notStarted = err;
    }
  }, 60_000);
  afterAll(async () => { await cluster?.stop(); }, 30_000);
  afterEach(async () => {
    for (const s of opened.splice(0).reverse()) await s.close();
  });
  const clock = () => new Date(time.now);
  return (driver) => {
    beforeEach(() => {
      if (driver === 'postgres' && notStarted) throw notStarted;
      time.now = T0;
    });
    return {
      async open(o = {}) {
        const s = await openTestStore(driver, { clock, poolMax: 6, ...o, ...(cluster ? { cluster } : {}) });
        opened.push(s);
        return s;
      },
      async another(first) {
        const s = await secondNode(first, driver, { clock, poolMax: 6 });
        opened.push(s);
        return s;
      },
      async withMerchant(s, webhookUrl = null) {
        return (await s.merchants.add(merchantInput('Night Market', webhookUrl))).merchant.id;
      },
      cluster() {
        if (!cluster) throw new Error('no PostgreSQL cluster');
        return cluster;
      },
    };
  };
}
