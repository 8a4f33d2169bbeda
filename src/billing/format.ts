import { invalidField } from '../domain/errors.js';
import { formatMinor } from '../domain/money.js';
import type { AccountTotal, Bill, BillLine } from './export.js';

export const BILL_FORMATS = ['csv', 'jsonl'] as const;
export type BillFormat = (typeof BILL_FORMATS)[number];

export function parseBillFormat(input: string, field = 'format'): BillFormat {
  const format = BILL_FORMATS.find((f) => f === input.trim().toLowerCase());
  if (!format) throw invalidField(field, `expected one of ${BILL_FORMATS.join(', ')}`);
  return format;
}

export function formatBill(bill: Bill, format: BillFormat): string {
  return format === 'csv' ? billCsv(bill) : billJsonl(bill);
}

/** 150050 TWD → "1500.50"; the exponent comes from the currency (JPY has none). */
export function decimalAmount(minor: number, currency: string): string {
  return formatMinor(minor, currency).slice(0, -(currency.length + 1));
}

export const CSV_COLUMNS = [
  'type', 'account_number', 'device', 'plan', 'time', 'merchant_id', 'merchant_name', 'reference', 'payment_id',
  'transfer_id', 'currency', 'amount_minor', 'amount', 'count', 'charges_minor', 'refunds_minor',
] as const;

type CsvRow = Partial<Record<(typeof CSV_COLUMNS)[number], string | number>>;

/**
 * RFC 4180 (CRLF, quoted when needed), one row per line and a `total` row after each account's
 * lines. Text reaching a spreadsheet could run as a formula, so text cells are neutralised; numbers
 * are written as numbers (a refund's "-500" must stay a number).
 */
export function billCsv(bill: Bill): string {
  const rows: string[] = [CSV_COLUMNS.join(',')];
  const totalsByKey = new Map(bill.totals.map((t) => [`${t.accountId}/${t.currency}`, t]));
  bill.lines.forEach((line, i) => {
    rows.push(csvRow(lineCells(line)));
    const next = bill.lines[i + 1];
    // Lines are ordered by account, so an account's lines end where the next account (or currency) starts.
    if (!next || next.accountId !== line.accountId || next.currency !== line.currency) {
      const total = totalsByKey.get(`${line.accountId}/${line.currency}`);
      if (total) rows.push(csvRow(totalCells(total)));
    }
  });
  return `${rows.join('\r\n')}\r\n`;
}

function lineCells(l: BillLine): CsvRow {
  return {
    type: l.type, account_number: l.accountNumber, device: l.device, plan: l.plan, time: l.time, merchant_id: l.merchantId,
    merchant_name: l.merchantName, reference: l.reference, payment_id: l.paymentId, transfer_id: l.transferId,
    currency: l.currency, amount_minor: l.amount, amount: decimalAmount(l.amount, l.currency),
  };
}

function totalCells(t: AccountTotal): CsvRow {
  return {
    type: 'total', account_number: t.accountNumber, device: t.device, plan: t.plan, currency: t.currency,
    amount_minor: t.net, amount: decimalAmount(t.net, t.currency), count: t.count, charges_minor: t.charges, refunds_minor: t.refunds,
  };
}

function csvRow(row: CsvRow): string {
  return CSV_COLUMNS.map((c) => {
    const v = row[c];
    if (v === undefined) return '';
    if (typeof v === 'number' || c === 'amount') return String(v);
    return csvText(v);
  }).join(',');
}

/** One text cell: neutralised against formula injection (OWASP), then quoted per RFC 4180. */
export function csvText(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** One JSON object per line: the lines, a `total` per account, then one `summary`. */
export function billJsonl(bill: Bill): string {
  const out: unknown[] = bill.lines.map((l) => ({
    type: l.type, account_number: l.accountNumber, device: l.device, plan: l.plan, time: l.time, merchant_id: l.merchantId,
    merchant_name: l.merchantName, reference: l.reference, payment_id: l.paymentId, transfer_id: l.transferId,
    currency: l.currency, amount_minor: l.amount, amount: decimalAmount(l.amount, l.currency),
  }));
  const sums = { charges_minor: {} as Record<string, number>, refunds_minor: {} as Record<string, number>, net_minor: {} as Record<string, number> };
  for (const t of bill.totals) {
    out.push({
      type: 'total', account_number: t.accountNumber, device: t.device, plan: t.plan, currency: t.currency, count: t.count,
      charge_count: t.chargeCount, refund_count: t.refundCount, charges_minor: t.charges, refunds_minor: t.refunds,
      net_minor: t.net, net: decimalAmount(t.net, t.currency),
    });
    sums.charges_minor[t.currency] = (sums.charges_minor[t.currency] ?? 0) + t.charges;
    sums.refunds_minor[t.currency] = (sums.refunds_minor[t.currency] ?? 0) + t.refunds;
    sums.net_minor[t.currency] = (sums.net_minor[t.currency] ?? 0) + t.net;
  }
  const accounts = new Set(bill.totals.map((t) => t.accountId)).size;
  out.push({ type: 'summary', cycle: bill.cycle, accounts, lines: bill.lines.length, ...sums });
  return out.map((o) => `${JSON.stringify(o)}\n`).join('');
}
