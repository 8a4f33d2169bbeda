// Baseline server for bench/intake.ts: the irreducible work of accepting a payment, minus callpay.
// Run by the bench as its own process: node --import tsx bench/intake-baseline.ts <sqlite file>
// Prints "baseline serving on <url>" on stderr once listening; SIGTERM stops it.
import Database from 'better-sqlite3';
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const file = process.argv[2];
if (!file) {
  console.error('usage: intake-baseline.ts <sqlite file>');
  process.exit(2);
}

// Same pragmas as src/store/db.ts, so both sides pay the same fsync per committed transaction.
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 5000');
// The columns and indexes of callpay's payments and idempotency_keys tables (store/schema/002),
// minus the foreign keys (there is no merchants table here): index upkeep is part of the row's cost.
db.exec(`
  CREATE TABLE payments (
    id TEXT PRIMARY KEY, merchant_id TEXT NOT NULL, amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL, reference TEXT NOT NULL, description TEXT NOT NULL, return_url TEXT NOT NULL,
    metadata TEXT NOT NULL, consumer_id TEXT, billable_account_id TEXT, status TEXT NOT NULL,
    decision TEXT, failure_code TEXT, live INTEGER NOT NULL, amount_refunded INTEGER NOT NULL DEFAULT 0,
    authorized_at TEXT, expires_at TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
  ) STRICT;
  CREATE INDEX payments_merchant ON payments (merchant_id, id);
  CREATE INDEX payments_merchant_reference ON payments (merchant_id, reference);
  CREATE INDEX payments_open ON payments (status, expires_at)
    WHERE status IN ('requires_consumer', 'requires_password', 'calling');
  CREATE INDEX payments_consumer ON payments (consumer_id, created_at);
  CREATE TABLE idempotency_keys (
    merchant_id TEXT NOT NULL, key TEXT NOT NULL, request_hash BLOB NOT NULL, status_code INTEGER NOT NULL,
    response TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (merchant_id, key)
  ) STRICT;
  CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
`);

const insertPayment = db.prepare(
  `INSERT INTO payments (id, merchant_id, amount, currency, reference, description, return_url, metadata, status, live,
     expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'requires_consumer', 0, ?, ?, ?)`,
);
const insertKey = db.prepare(
  'INSERT INTO idempotency_keys (merchant_id, key, request_hash, status_code, response, created_at) VALUES (?, ?, ?, 201, ?, ?)',
);
// BEGIN IMMEDIATE like callpay's idempotent(): one writer, one commit (one WAL fsync) per request.
const accept = db.transaction((key: string, raw: string, body: Record<string, unknown>) => {
  const now = new Date();
  const at = now.toISOString();
  const payment = {
    id: `pay_${randomUUID()}`, object: 'payment', status: 'requires_consumer',
    amount: body.amount, currency: body.currency, reference: body.reference, description: body.description,
    return_url: body.return_url, expires_at: new Date(now.getTime() + 600_000).toISOString(), created_at: at,
  };
  insertPayment.run(payment.id, 'mer_bench', payment.amount, payment.currency, payment.reference, payment.description,
    payment.return_url, '{}', payment.expires_at, at, at);
  const response = JSON.stringify(payment);
  insertKey.run('mer_bench', key, createHash('sha256').update(raw).digest(), response, at);
  return response;
});

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    try {
      const raw = Buffer.concat(chunks).toString('utf8');
      const key = req.headers['idempotency-key'];
      if (req.method !== 'POST' || typeof key !== 'string') throw new Error('expected POST with Idempotency-Key');
      const response = accept.immediate(key, raw, JSON.parse(raw) as Record<string, unknown>);
      res.writeHead(201, { 'content-type': 'application/json; charset=utf-8' }).end(response);
    } catch (e) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(e) }));
    }
  });
});
// Same socket timeouts as startDaemon, so idle keep-alive connections behave alike on both sides.
server.keepAliveTimeout = 5_000;
server.headersTimeout = 10_000;
server.requestTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  process.stderr.write(`baseline serving on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.once('SIGTERM', () => {
  server.close(() => {
    db.close();
    process.exit(0);
  });
  server.closeAllConnections();
});
