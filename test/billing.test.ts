import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Database from 'better-sqlite3';
import { dumpDatabase, openDb, runCli, tempDir, type CliResult } from './helpers/cli.js';
import { openContext } from '../src/wiring/context.js';
import { openStore } from '../src/wiring/stores.js';
import type { Store } from '../src/payments/repositories.js';
import { cycleOf } from '../src/domain/billing.js';
import type { Clock } from '../src/domain/clock.js';
import { newId } from '../src/domain/ids.js';

const PEOPLE = [
  { login: 'alice.wang', phone: '+886912345678', id: 'A123456789', address: 'No. 7, Section 1, Zhongshan Rd' },
  { login: 'bob.chen', phone: '+886987654321', id: 'B223456789', address: 'No. 1, Lane 2, Xinyi Rd' },
];
const PERSONAL = PEOPLE.flatMap((p) => [p.login, p.phone, p.phone.slice(4), `0${p.phone.slice(4)}`, p.id, p.address]);
const EVIL_NAME = '=HYPERLINK("http://evil.example","click")';

/** RFC 4180 reader for the assertions: quoted cells, doubled quotes, CRLF rows. */
function parseCsv(text: string): Array<Record<string, string>> {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] ?? '';
    if (quoted && ch === '"' && text[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
    } else if (!quoted && ch === ',') {
      row.push(cell);
      cell = '';
    } else if (!quoted && ch === '\r' && text[i + 1] === '\n') {
      rows.push([...row, cell]);
      row = [];
      cell = '';
      i++;
    } else {
      cell += ch;
    }
  }
  const [header = [], ...body] = rows;
  return body.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));
}

function ok(r: CliResult): string {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

describe('billing export and settlement', () => {
  const dir = tempDir();
  const db = join(dir.path, 'callpay.db');
  const cli = (args: string[], opts: { stdin?: string; env?: NodeJS.ProcessEnv } = {}) => runCli(args, { cwd: dir.path, ...opts });
  const ids = { alice: '', bob: '', shop: '', evil: '', p1: '', p2: '', p3: '', p4: '' };
  const at: Record<string, string> = {};
  let cycle = '';

  /** A payment taken through hold → post (or void), as the payments service will do it; `peek` reads the transfer's time. */
  async function pay(store: Store, peek: Database.Database, p: { merchant: string; account: string; amount: number; ref: string; voided?: boolean }) {
    const id = newId('pay');
    await store.payments.insert({ id, merchantId: p.merchant, amount: p.amount, currency: 'TWD', reference: p.ref, description: 'test',
      returnUrl: 'https://shop.example/return', metadata: {}, expiresAt: new Date(Date.now() + 600_000).toISOString(), live: true }, 'calling', 'test');
    expect((await store.ledger.hold({ paymentId: id, merchantId: p.merchant, billableAccountId: p.account, amount: p.amount, currency: 'TWD' })).ok).toBe(true);
    const tr = p.voided ? await store.ledger.void(id) : await store.ledger.post(id);
    at[id] = peek.prepare('SELECT created_at FROM transfers WHERE id = ?').pluck().get(tr) as string;
    at[`${id}/tr`] = tr ?? '';
    return id;
  }

  beforeAll(async () => {
    ok(await cli(['init']));
    for (const p of PEOPLE) {
      ok(await cli(['consumer', 'add', '--login', p.login, '--phone', p.phone, '--national-id', p.id, '--address', p.address, '--pin-stdin'], { stdin: '482916\n' }));
    }
    const json = (r: CliResult) => (JSON.parse(ok(r)) as { id: string }).id;
    ids.alice = json(await cli(['account', 'add', 'alice.wang', '--kind', 'mobile', '--number', '0912-000-111', '--plan', 'prepaid', '--json']));
    ids.bob = json(await cli(['account', 'add', 'bob.chen', '--kind', 'landline', '--number', '0223456789', '--plan', 'postpaid', '--credit-limit', '5000', '--json']));
    ok(await cli(['account', 'topup', ids.alice, '--amount', '1000']));
    ids.shop = json(await cli(['merchant', 'add', '--name', 'Night Market Stall 12', '--json']));
    ids.evil = json(await cli(['merchant', 'add', '--name', EVIL_NAME, '--json']));

    const ctx = await openContext({}, { cwd: dir.path, env: {} });
    const peek = openDb(db);
    try {
      const { store } = ctx;
      cycle = await store.ledger.currentCycle();
      ids.p1 = await pay(store, peek, { merchant: ids.shop, account: ids.alice, amount: 25000, ref: 'order-1001' });
      ids.p2 = await pay(store, peek, { merchant: ids.evil, account: ids.alice, amount: 1200, ref: '=1+2' });
      ids.p3 = await pay(store, peek, { merchant: ids.shop, account: ids.bob, amount: 80000, ref: 'order-1002', voided: true });
      ids.p4 = await pay(store, peek, { merchant: ids.shop, account: ids.bob, amount: 4500, ref: '@SUM(A1)' });
      const refundId = newId('re');
      await store.payments.insertRefund(refundId, ids.p1, 5000, 'damaged');
      const tr = await store.ledger.refund(ids.p1, refundId, 5000);
      at.refund = peek.prepare('SELECT created_at FROM transfers WHERE id = ?').pluck().get(tr) as string;
      at['refund/tr'] = tr;
    } finally {
      peek.close();
      await ctx.close();
    }
  });
  afterAll(() => dir.remove());

  const line = (paymentId: string, account: 'alice' | 'bob', merchant: 'shop' | 'evil', reference: string, amount: number, refund = false) => ({
    type: refund ? 'refund' : 'charge',
    account_number: account === 'alice' ? '0912000111' : '0223456789',
    device: account === 'alice' ? 'mobile' : 'landline',
    plan: account === 'alice' ? 'prepaid' : 'postpaid',
    time: refund ? at.refund : at[paymentId],
    merchant_id: merchant === 'shop' ? ids.shop : ids.evil,
    merchant_name: merchant === 'shop' ? 'Night Market Stall 12' : EVIL_NAME,
    reference, payment_id: paymentId, transfer_id: refund ? at['refund/tr'] : at[`${paymentId}/tr`], currency: 'TWD',
    amount_minor: amount, amount: (amount / 100).toFixed(2),
  });

  it('exports one CSV line per charge and refund, totals per account, never a voided hold', async () => {
    const csv = ok(await cli(['bill', 'export', '--cycle', cycle]));
    expect(csv.startsWith('type,account_number,device,plan,time,merchant_id,merchant_name,reference,payment_id,transfer_id,currency,amount_minor,amount,count,charges_minor,refunds_minor\r\n')).toBe(true);
    expect(csv.endsWith('\r\n')).toBe(true);
    // Formula injection: the merchant name and the references are neutralised and quoted.
    expect(csv).toContain(`"'=HYPERLINK(""http://evil.example"",""click"")"`);
    expect(csv).toContain(",'=1+2,");
    expect(csv).toContain(",'@SUM(A1),");
    expect(csv).not.toContain(ids.p3);
    const cells = (l: ReturnType<typeof line>) => ({ ...l, amount_minor: String(l.amount_minor), count: '', charges_minor: '', refunds_minor: '' });
    const total = (account: 'alice' | 'bob', net: number, count: number, charges: number, refunds: number) => {
      const l = line('', account, 'shop', '', net);
      return { ...cells(l), type: 'total', time: '', merchant_id: '', merchant_name: '', payment_id: '', transfer_id: '', count: String(count), charges_minor: String(charges), refunds_minor: String(refunds) };
    };
    const neutral = (l: ReturnType<typeof line>) => ({ ...cells(l), merchant_name: l.merchant_name.startsWith('=') ? `'${l.merchant_name}` : l.merchant_name, reference: /^[=@]/.test(l.reference) ? `'${l.reference}` : l.reference });
    expect(parseCsv(csv)).toEqual([
      neutral(line(ids.p1, 'alice', 'shop', 'order-1001', 25000)),
      neutral(line(ids.p2, 'alice', 'evil', '=1+2', 1200)),
      neutral(line(ids.p1, 'alice', 'shop', 'order-1001', -5000, true)),
      total('alice', 21200, 3, 26200, 5000),
      neutral(line(ids.p4, 'bob', 'shop', '@SUM(A1)', 4500)),
      total('bob', 4500, 1, 4500, 0),
    ]);
    for (const s of PERSONAL) expect(csv).not.toContain(s);
  });

  it('exports JSON Lines: raw values, a total per account and a summary', async () => {
    const jsonl = ok(await cli(['bill', 'export', '--cycle', cycle, '--format', 'jsonl']));
    const records = jsonl.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
    const totalOf = (account: 'alice' | 'bob', o: object) => ({ type: 'total', ...pick(line('', account, 'shop', '', 0)), currency: 'TWD', ...o });
    const pick = (l: ReturnType<typeof line>) => ({ account_number: l.account_number, device: l.device, plan: l.plan });
    expect(records).toEqual([
      line(ids.p1, 'alice', 'shop', 'order-1001', 25000),
      line(ids.p2, 'alice', 'evil', '=1+2', 1200),
      line(ids.p1, 'alice', 'shop', 'order-1001', -5000, true),
      line(ids.p4, 'bob', 'shop', '@SUM(A1)', 4500),
      totalOf('alice', { count: 3, charge_count: 2, refund_count: 1, charges_minor: 26200, refunds_minor: 5000, net_minor: 21200, net: '212.00' }),
      totalOf('bob', { count: 1, charge_count: 1, refund_count: 0, charges_minor: 4500, refunds_minor: 0, net_minor: 4500, net: '45.00' }),
      { type: 'summary', cycle, accounts: 2, lines: 4, charges_minor: { TWD: 30700 }, refunds_minor: { TWD: 5000 }, net_minor: { TWD: 25700 } },
    ]);
    for (const s of PERSONAL) expect(jsonl).not.toContain(s);
    // Another cycle is empty: a header only, or a summary only.
    expect(ok(await cli(['bill', 'export', '--cycle', '2020-01'])).split('\r\n')).toHaveLength(2);
    expect(JSON.parse(ok(await cli(['bill', 'export', '--cycle', '2020-01', '--format', 'jsonl'])))).toMatchObject({ type: 'summary', lines: 0, net_minor: {} });
  });

  it('settles each merchant from the same transfers', async () => {
    const settle = async (m: string) => JSON.parse(ok(await cli(['settlement', '--merchant', m, '--cycle', cycle, '--json']))) as unknown;
    expect(await settle(ids.shop)).toEqual({ merchant_id: ids.shop, merchant_name: 'Night Market Stall 12', cycle,
      currencies: [{ currency: 'TWD', charges_minor: 29500, charge_count: 2, refunds_minor: 5000, refund_count: 1, net_minor: 24500 }] });
    expect(await settle(ids.evil)).toMatchObject({ currencies: [{ currency: 'TWD', charges_minor: 1200, charge_count: 1, refunds_minor: 0, refund_count: 0, net_minor: 1200 }] });
    const human = ok(await cli(['settlement', '--merchant', ids.shop, '--cycle', cycle]));
    expect(human).toMatch(/TWD\s+295\.00 TWD\s+2\s+50\.00 TWD\s+1\s+245\.00 TWD/);
    expect(ok(await cli(['settlement', '--merchant', ids.shop, '--cycle', '2020-01']))).toContain('no charges or refunds');
  });

  it('writes --out atomically, 0600, and refuses an existing file without --force', async () => {
    const outDir = join(dir.path, 'exports');
    mkdirSync(outDir);
    const file = join(outDir, 'bill.csv');
    const expected = ok(await cli(['bill', 'export', '--cycle', cycle]));
    expect(ok(await cli(['bill', 'export', '--cycle', cycle, '--out', 'exports/bill.csv']))).toContain('wrote 4 lines for 2 accounts');
    expect(readFileSync(file, 'utf8')).toBe(expected);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(outDir)).toEqual(['bill.csv']);

    writeFileSync(file, 'previous\n', { mode: 0o644 });
    const refused = await cli(['bill', 'export', '--cycle', cycle, '--out', file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^callpay: out: .* already exists; pass --force to replace it \[already_exists\]\n$/);
    expect(readFileSync(file, 'utf8')).toBe('previous\n');

    ok(await cli(['bill', 'export', '--cycle', cycle, '--format', 'jsonl', '--out', file, '--force']));
    expect(readFileSync(file, 'utf8')).toContain('"type":"summary"');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(outDir)).toEqual(['bill.csv']);
  });

  it.each([
    ['a month 13', ['bill', 'export', '--cycle', '2026-13'], 'cycle'],
    ['a month-first cycle', ['bill', 'export', '--cycle', '11-2026'], 'cycle'],
    ['an unknown format', ['bill', 'export', '--cycle', '2026-11', '--format', 'xml'], 'format'],
    ['a bad cycle with --out', ['bill', 'export', '--cycle', '2026-13', '--out', 'never.csv'], 'cycle'],
    ['--out into a missing directory', ['bill', 'export', '--cycle', '2026-11', '--out', 'nowhere/bill.csv'], 'out'],
    ['an unknown merchant', ['settlement', '--merchant', 'mer_NOPE', '--cycle', '2026-11'], 'merchant'],
    ['a bad settlement cycle', ['settlement', '--merchant', 'mer_NOPE', '--cycle', '2026-13'], 'cycle'],
  ])('refuses %s: exit 1, one line naming the field, nothing written', async (_name, args, field) => {
    const before = dumpDatabase(db);
    const r = await cli(args);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^callpay: ${field}: `));
    expect(dumpDatabase(db)).toBe(before);
    expect(existsSync(join(dir.path, 'never.csv'))).toBe(false);
    expect(existsSync(join(dir.path, 'nowhere'))).toBe(false);
  });

  it('bills a transfer after the closing day in the next cycle', async () => {
    const env = { CALLPAY_BILLING_CLOSING_DAY: '25' };
    const ctx = await openContext({}, { cwd: dir.path, env });
    let now = new Date();
    const clock: Clock = () => now;
    const { closingDay, timeZone } = ctx.config.billing;
    expect([closingDay, timeZone]).toEqual([25, 'Asia/Taipei']);
    // The configured store with a clock of the test's: its cycles come from the same closing day and zone.
    const store = await openStore(ctx.config, ctx.keyring, clock);
    const peek = openDb(db);
    try {
      now = new Date('2030-11-25T15:59:59.999Z'); // 23:59:59.999 on the 25th in Taipei
      const last = await pay(store, peek, { merchant: ids.shop, account: ids.alice, amount: 100, ref: 'last-of-november' });
      now = new Date('2030-11-25T16:00:00.000Z'); // 00:00 on the 26th in Taipei
      const first = await pay(store, peek, { merchant: ids.shop, account: ids.alice, amount: 200, ref: 'first-of-december' });
      const cycles = peek.prepare("SELECT payment_id, cycle FROM transfers WHERE kind = 'post' AND payment_id IN (?, ?)").raw().all(last, first);
      expect(Object.fromEntries(cycles as Array<[string, string]>)).toEqual({ [last]: '2030-11', [first]: '2030-12' });
    } finally {
      peek.close();
      await store.close();
      await ctx.close();
    }
    const refs = async (c: string) => parseCsv(ok(await cli(['bill', 'export', '--cycle', c], { env }))).map((r) => `${r.type}:${r.reference}`);
    expect(await refs('2030-11')).toEqual(['charge:last-of-november', 'total:']);
    expect(await refs('2030-12')).toEqual(['charge:first-of-december', 'total:']);
  });

  it('explains itself in --help', async () => {
    const help = ok(await cli(['bill', 'export', '--help']));
    expect(help).toContain('--cycle <YYYY-MM>');
    expect(help).toContain('formula');
    expect(ok(await cli(['settlement', '--help']))).toContain('--merchant <id>');
  });
});

describe('billing cycles', () => {
  it.each([
    ['2026-11-25T15:59:59Z', 25, 'Asia/Taipei', '2026-11'],
    ['2026-11-25T16:00:00Z', 25, 'Asia/Taipei', '2026-12'],
    ['2026-12-25T16:00:00Z', 25, 'Asia/Taipei', '2027-01'], // December rolls into next year's January
    ['2026-12-31T15:59:59Z', 31, 'Asia/Taipei', '2026-12'],
    ['2026-12-31T16:00:00Z', 31, 'Asia/Taipei', '2027-01'],
    ['2026-02-28T15:59:59Z', 31, 'Asia/Taipei', '2026-02'], // day 31 closes February on the 28th
    ['2026-02-28T16:00:00Z', 31, 'Asia/Taipei', '2026-03'],
    ['2028-02-29T12:00:00Z', 31, 'Asia/Taipei', '2028-02'], // and on the 29th in a leap year
    ['2028-02-29T12:00:00Z', 30, 'Asia/Taipei', '2028-02'],
    ['2026-11-25T20:00:00Z', 25, 'America/New_York', '2026-11'], // the carrier's time zone decides
    ['2026-11-25T20:00:00Z', 25, 'Asia/Taipei', '2026-12'],
  ])('%s with closing day %i in %s is cycle %s', (instant, day, zone, expected) => {
    expect(cycleOf(new Date(instant), day, zone)).toBe(expected);
  });
});
