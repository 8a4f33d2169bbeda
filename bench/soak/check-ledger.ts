// The ledger's own rules (src/store/ledger.ts): each account's four running sums equal the sums of
// its transfers; money is neither created nor lost; every post or void resolves one hold and copies
// it; a refund reverses a charge; no prepaid account is overdrawn, no postpaid one over its limit.
import type { Findings } from './findings.js';
import type { Snapshot, TransferRow } from './snapshot.js';

type Sums = { debits_pending: number; debits_posted: number; credits_pending: number; credits_posted: number };

export function checkLedger(s: Snapshot, f: Findings): void {
  const byId = new Map(s.transfers.map((t) => [t.id, t]));
  const resolutions = new Map<string, TransferRow[]>();
  for (const t of s.transfers) {
    if (t.pending_id) resolutions.set(t.pending_id, [...(resolutions.get(t.pending_id) ?? []), t]);
  }
  const accounts = new Map(s.accounts.map((a) => [a.id, a]));

  // the running sums, recomputed from the transfers
  const sums = new Map<string, Sums>(s.accounts.map((a) => [a.id, { debits_pending: 0, debits_posted: 0, credits_pending: 0, credits_posted: 0 }]));
  const add = (id: string, k: keyof Sums, v: number) => {
    const row = sums.get(id);
    if (row) row[k] += v;
  };
  for (const t of s.transfers) {
    f.expect(accounts.has(t.debit_account_id) && accounts.has(t.credit_account_id), 'transfer between known accounts', () => `${t.id} (${t.kind})`);
    if (t.kind === 'hold') {
      if (resolutions.has(t.id)) continue; // a resolved hold counts through its post (or not at all: void)
      add(t.debit_account_id, 'debits_pending', t.amount);
      add(t.credit_account_id, 'credits_pending', t.amount);
    } else if (t.kind !== 'void') {
      add(t.debit_account_id, 'debits_posted', t.amount);
      add(t.credit_account_id, 'credits_posted', t.amount);
    }
  }
  for (const a of s.accounts) {
    const want = sums.get(a.id)!;
    for (const k of ['debits_pending', 'debits_posted', 'credits_pending', 'credits_posted'] as const) {
      f.expect(a[k] === want[k], 'ledger balance = sum of its entries', () => `${a.id} (${a.code}) ${k} = ${a[k]}, transfers say ${want[k]}`);
    }
  }
  const total = (k: keyof Sums) => s.accounts.reduce((n, a) => n + a[k], 0);
  f.expect(total('debits_posted') === total('credits_posted'), 'double entry: posted debits = posted credits', () => `${total('debits_posted')} vs ${total('credits_posted')}`);
  f.expect(total('debits_pending') === total('credits_pending'), 'double entry: pending debits = pending credits', () => `${total('debits_pending')} vs ${total('credits_pending')}`);

  for (const t of s.transfers) {
    const da = accounts.get(t.debit_account_id);
    const ca = accounts.get(t.credit_account_id);
    f.expect(da?.currency === t.currency && ca?.currency === t.currency, 'transfer in its accounts\' currency', () => `${t.id} ${t.currency}: ${da?.currency}/${ca?.currency}`);
    if (t.kind === 'hold') {
      f.expect(t.payment_id !== null && da?.code === 'consumer' && ca?.code === 'merchant', 'a hold moves a payment from consumer to merchant', () => `${t.id}`);
      f.expect((resolutions.get(t.id) ?? []).length <= 1, 'a hold is resolved at most once', () => `${t.id}: ${(resolutions.get(t.id) ?? []).map((r) => r.kind).join(', ')}`);
    } else if (t.kind === 'post' || t.kind === 'void') {
      const hold = t.pending_id ? byId.get(t.pending_id) : undefined;
      f.expect(
        hold?.kind === 'hold' && hold.payment_id === t.payment_id && hold.amount === t.amount &&
          hold.debit_account_id === t.debit_account_id && hold.credit_account_id === t.credit_account_id,
        'a post or void copies its hold',
        () => `${t.kind} ${t.id} → ${t.pending_id} (${hold?.kind ?? 'missing'})`,
      );
    } else if (t.kind === 'refund') {
      f.expect(t.payment_id !== null && t.refund_id !== null && da?.code === 'merchant' && ca?.code === 'consumer', 'a refund moves money from merchant to consumer', () => `${t.id}`);
    } else {
      f.expect(da?.code === 'carrier_topups' && ca?.code === 'consumer', 'a top-up moves money from the carrier to a consumer', () => `${t.id}`);
    }
  }

  // no overspend: what the hold check promised (Ledger.available) still holds now
  const maxCycle = s.transfers.reduce((m, t) => (t.cycle > m ? t.cycle : m), '');
  for (const a of s.accounts) {
    if (a.code !== 'consumer') continue;
    if (a.plan === 'prepaid') {
      const available = a.credits_posted - a.debits_posted - a.debits_pending;
      f.expect(available >= 0, 'prepaid account never overdrawn', () => `${a.billable_account_id}: available ${available}`);
    } else if (a.plan === 'postpaid') {
      const usage = s.transfers
        .filter((t) => t.cycle === maxCycle && ((t.kind === 'post' && t.debit_account_id === a.id) || (t.kind === 'refund' && t.credit_account_id === a.id)))
        .reduce((n, t) => n + (t.kind === 'post' ? t.amount : -t.amount), 0);
      f.expect(usage + a.debits_pending <= (a.credit_limit ?? 0), 'postpaid account within its credit limit', () =>
        `${a.billable_account_id}: cycle ${maxCycle} usage ${usage} + pending ${a.debits_pending} > limit ${a.credit_limit}`);
    }
  }
}
