import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpDatabase } from './helpers/cli.js';
import { enrolPrepaid, startWorld, type TestWorld } from './helpers/daemon.js';
import { Client, createPayment, field, PASSWORD, signIn, stepOf, type Created } from './helpers/checkout.js';

/**
 * Hostile requests to every route of the daemon (merchant API, checkout pages, payment-QR landing),
 * over real HTTP against a real SQLite file. Each is refused with its status (and, on the JSON API,
 * a stable code naming the field), and every table is row for row as it was before the request.
 */

interface Reply {
  status: number;
  type: string;
  text: string;
}

interface Expect {
  status: number;
  /** JSON API: error.code and, when given, error.field. */
  code?: string;
  field?: string;
  /** Checkout and QR pages: an HTML page (Node's own 400s for unparseable HTTP have no body to check). */
  html?: boolean;
}

interface Fixtures {
  w: TestWorld;
  url: string;
  /** requires_consumer, with the checkout client's CSRF field for it. */
  open: Created & { csrf: string };
  /** requires_password (carol), with its CSRF field. */
  pw: Created & { csrf: string };
  browser: Client;
  /** An open-amount payment-QR link (path and query), its CSRF field, and a fixed-amount one. */
  qrOpen: string;
  qrFixed: string;
  qrCsrf: string;
  qrBrowser: Client;
  usedKey: string;
}

let f: Fixtures;

const C1 = ['\u0080', '\u0085', '\u009b', '\u009f'];
const BIDI = ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c'];
const SEPARATORS = ['\u2028', '\u2029'];
const C0 = ['\u0000', '\t', '\n', '\r', '\u001b', '\u007f'];
const hex = (ch: string) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

const goodBody = () => ({ amount: 15000, currency: 'TWD', reference: 'ORD-1', description: 'Oyster omelette', return_url: 'https://shop.example/done' });
let idem = 0;
const key = () => `corpus-${++idem}`;

/** fetch without following redirects; JSON or text as it came. */
async function send(method: string, path: string, o: { headers?: Record<string, string>; body?: string | Buffer; auth?: string | null; idem?: string | null } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  const auth = o.auth === undefined ? `Bearer ${f.w.apiKey}` : o.auth;
  if (auth !== null) headers.authorization = auth;
  const idemKey = o.idem === undefined ? key() : o.idem;
  if (idemKey !== null) headers['idempotency-key'] = idemKey;
  const res = await fetch(`${f.url}${path}`, { method, headers, redirect: 'manual', signal: AbortSignal.timeout(10_000), ...(o.body === undefined ? {} : { body: o.body }) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

/** JSON to the merchant API: `body` is serialized unless it is already text. */
function api(method: string, path: string, body?: unknown, o: { headers?: Record<string, string>; auth?: string | null; idem?: string | null } = {}): Promise<Reply> {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return send(method, path, { ...o, headers: { ...(text === undefined ? {} : { 'content-type': 'application/json' }), ...(o.headers ?? {}) }, ...(text === undefined ? {} : { body: text }) });
}

const create = (over: Record<string, unknown>, o?: Parameters<typeof api>[3]) => api('POST', '/v1/payments', { ...goodBody(), ...over }, o);

/** A request written byte for byte, for what fetch refuses to send (bare CR, smuggling headers, raw bytes). */
function raw(request: string | Buffer): Promise<Reply> {
  const { hostname, port } = new URL(f.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error('raw request timed out')));
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      const type = /^content-type:\s*(.*)$/im.exec(head)?.[1] ?? '';
      resolve({ status, type, text: rest.join('\r\n\r\n') });
    });
    socket.end(request);
  });
}

const rawApi = (lines: string[], body = '') => raw(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`, 'latin1'), Buffer.from(body, 'utf8')]));
const rawCreate = (headers: string[], body = JSON.stringify(goodBody())) =>
  rawApi(['POST /v1/payments HTTP/1.1', `Host: 127.0.0.1`, `Authorization: Bearer ${f.w.apiKey}`, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`, ...headers], body);

/** A form post from the checkout browser (its cookies) or a stranger (none). */
function form(path: string, fields: Record<string, string>, o: { client?: Client; type?: string; body?: string } = {}): Promise<Reply> {
  const client = o.client ?? f.browser;
  const headers: Record<string, string> = { 'content-type': o.type ?? 'application/x-www-form-urlencoded' };
  if (client.jar.size > 0) headers.cookie = [...client.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  return send('POST', path, { headers, body: o.body ?? new URLSearchParams(fields).toString(), auth: null, idem: null });
}
const page = (path: string) => send('GET', path, { auth: null, idem: null });

type Case = [name: string, run: () => Promise<Reply>, expected: Expect];
const json = (status: number, code: string, field?: string): Expect => ({ status, code, ...(field === undefined ? {} : { field }) });
const html = (status: number): Expect => ({ status, html: true });

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

const merchantApi: Case[] = [
  // content types and encodings
  ['create: text/plain body', () => api('POST', '/v1/payments', JSON.stringify(goodBody()), { headers: { 'content-type': 'text/plain' } }), json(415, 'unsupported_media_type', 'content-type')],
  ['create: no content type', () => send('POST', '/v1/payments', { body: JSON.stringify(goodBody()) }), json(415, 'unsupported_media_type', 'content-type')],
  ['create: a form', () => send('POST', '/v1/payments', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'amount=15000&reference=x' }), json(415, 'unsupported_media_type', 'content-type')],
  ['create: multipart', () => send('POST', '/v1/payments', { headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x\r\nContent-Disposition: form-data; name="amount"\r\n\r\n1\r\n--x--\r\n' }), json(415, 'unsupported_media_type', 'content-type')],
  ['create: JSON in latin1', () => api('POST', '/v1/payments', goodBody(), { headers: { 'content-type': 'application/json; charset=latin1' } }), json(415, 'unsupported_media_type', 'content-type')],
  ['create: JSON in UTF-16', () => send('POST', '/v1/payments', { headers: { 'content-type': 'application/json; charset=utf-16le' }, body: Buffer.from(JSON.stringify(goodBody()), 'utf16le') }), json(415, 'unsupported_media_type', 'content-type')],
  ['create: unknown content-encoding', () => send('POST', '/v1/payments', { headers: { 'content-type': 'application/json', 'content-encoding': 'compress' }, body: JSON.stringify(goodBody()) }), json(415, 'unsupported_media_type', 'content-type')],
  ['create: gzip bomb (1 MiB inflated)', () => send('POST', '/v1/payments', { headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(Buffer.from(`{"reference":"${'a'.repeat(1 << 20)}"}`)) }), json(413, 'payload_too_large', 'body')],
  // malformed, huge, nested, duplicate
  ['create: truncated JSON', () => api('POST', '/v1/payments', '{"amount": 15000, "reference": '), json(400, 'malformed_json', 'body')],
  ['create: JSON with a trailing comma', () => api('POST', '/v1/payments', '{"amount": 15000,}'), json(400, 'malformed_json', 'body')],
  ['create: JSON null', () => api('POST', '/v1/payments', 'null'), json(400, 'malformed_json', 'body')],
  ['create: a JSON string', () => api('POST', '/v1/payments', '"amount"'), json(400, 'malformed_json', 'body')],
  ['create: a JSON array', () => api('POST', '/v1/payments', '[]'), json(400, 'invalid_field', 'body')],
  ['create: an empty body', () => send('POST', '/v1/payments', { headers: { 'content-type': 'application/json' }, body: '' }), json(400, 'invalid_field')],
  ['create: 17 KiB body', () => create({ description: 'x'.repeat(17 * 1024) }), json(413, 'payload_too_large', 'body')],
  ['create: arrays nested 7000 deep', () => api('POST', '/v1/payments', nested(7000)), json(400, 'invalid_field', 'body')],
  ['create: metadata nested 5000 deep', () => api('POST', '/v1/payments', `{"amount":15000,"reference":"r","description":"d","return_url":"https://shop.example/","metadata":{"a":${nested(5000)}}}`), json(400, 'invalid_field', 'metadata.a')],
  ['create: objects nested 2500 deep', () => api('POST', '/v1/payments', `${'{"a":'.repeat(2500)}1${'}'.repeat(2500)}`), json(400, 'invalid_field')],
  ['create: "amount" twice', () => api('POST', '/v1/payments', '{"amount":1,"currency":"TWD","reference":"r","description":"d","return_url":"https://shop.example/","amount":15000}'), json(400, 'invalid_field', 'amount')],
  ['create: "amount" twice, once escaped', () => api('POST', '/v1/payments', '{"amount":1,"\\u0061mount":15000,"reference":"r","description":"d","return_url":"https://shop.example/"}'), json(400, 'invalid_field', 'amount')],
  ['create: a metadata key twice', () => api('POST', '/v1/payments', '{"amount":1,"reference":"r","description":"d","return_url":"https://shop.example/","metadata":{"a":"1","b":"2","a":"3"}}'), json(400, 'invalid_field', 'metadata.a')],
  // prototype keys
  ['create: a top-level "__proto__"', () => api('POST', '/v1/payments', `{${JSON.stringify(goodBody()).slice(1, -1)},"__proto__":{"amount":1}}`), json(400, 'invalid_field', '__proto__')],
  ['create: metadata "__proto__" (string)', () => api('POST', '/v1/payments', `{${JSON.stringify(goodBody()).slice(1, -1)},"metadata":{"__proto__":"x"}}`), json(400, 'invalid_field', 'metadata.__proto__')],
  ['create: metadata "__proto__" (object)', () => api('POST', '/v1/payments', `{${JSON.stringify(goodBody()).slice(1, -1)},"metadata":{"table":"7","__proto__":{"polluted":"yes"}}}`), json(400, 'invalid_field', 'metadata.__proto__')],
  ['create: metadata "constructor"', () => create({ metadata: { constructor: 'x' } }), json(400, 'invalid_field', 'metadata.constructor')],
  ['create: metadata "prototype"', () => create({ metadata: { prototype: 'x' } }), json(400, 'invalid_field', 'metadata.prototype')],
  // text: C0, C1, bidi, separators, lone surrogates, in every text field
  ...C0.map((ch): Case => [`create: ${hex(ch)} in reference`, () => create({ reference: `ORD${ch}1` }), json(400, 'invalid_field', 'reference')]),
  ...C1.map((ch): Case => [`create: ${hex(ch)} in reference`, () => create({ reference: `ORD${ch}1` }), json(400, 'invalid_field', 'reference')]),
  ...BIDI.map((ch): Case => [`create: ${hex(ch)} in description`, () => create({ description: `Oyster ${ch}omelette` }), json(400, 'invalid_field', 'description')]),
  ...SEPARATORS.map((ch): Case => [`create: ${hex(ch)} in description`, () => create({ description: `Oyster${ch}omelette` }), json(400, 'invalid_field', 'description')]),
  ['create: U+202E written as a JSON escape', () => api('POST', '/v1/payments', '{"amount":15000,"reference":"ORD-\\u202e1","description":"d","return_url":"https://shop.example/"}'), json(400, 'invalid_field', 'reference')],
  ['create: U+0085 written as a JSON escape', () => api('POST', '/v1/payments', '{"amount":15000,"reference":"r","description":"a\\u0085b","return_url":"https://shop.example/"}'), json(400, 'invalid_field', 'description')],
  ['create: a lone surrogate', () => api('POST', '/v1/payments', '{"amount":15000,"reference":"r","description":"a\\ud800b","return_url":"https://shop.example/"}'), json(400, 'invalid_field', 'description')],
  ['create: U+0085 in a metadata value', () => create({ metadata: { note: 'a\u0085b' } }), json(400, 'invalid_field', 'metadata.note')],
  ['create: U+202E in a metadata value', () => create({ metadata: { note: 'gnp.\u202eexe' } }), json(400, 'invalid_field', 'metadata.note')],
  ['create: U+2028 in a metadata value', () => create({ metadata: { note: 'a\u2028b' } }), json(400, 'invalid_field', 'metadata.note')],
  ['create: U+0085 in a metadata key', () => create({ metadata: { 'a\u0085b': 'x' } }), json(400, 'invalid_field', 'metadata')],
  ['create: U+202E in return_url', () => create({ return_url: 'https://shop.example/\u202edone' }), json(400, 'invalid_field', 'return_url')],
  ['create: U+0085 in return_url', () => create({ return_url: 'https://shop.example/\u0085' }), json(400, 'invalid_field', 'return_url')],
  ['create: CR LF in return_url (header injection)', () => create({ return_url: 'https://shop.example/\r\nSet-Cookie: a=b' }), json(400, 'invalid_field', 'return_url')],
  ['create: U+009B in login_account', () => create({ login_account: 'alice\u009b' }), json(400, 'invalid_field', 'login_account')],
  ['create: U+202E in login_account', () => create({ login_account: '\u202ealice' }), json(400, 'invalid_field', 'login_account')],
  // other fields
  ['create: a malformed login_account', () => create({ login_account: 'a' }), json(400, 'invalid_field', 'login_account')],
  ['create: a javascript: return_url', () => create({ return_url: 'javascript:alert(1)' }), json(400, 'invalid_field', 'return_url')],
  ['create: credentials in return_url', () => create({ return_url: 'https://user:pw@shop.example/' }), json(400, 'invalid_field', 'return_url')],
  ['create: a space in return_url', () => create({ return_url: 'https://shop.example/a b' }), json(400, 'invalid_field', 'return_url')],
  ['create: a relative return_url', () => create({ return_url: '/done' }), json(400, 'invalid_field', 'return_url')],
  ...([-1, 0, 150.5, 1e300, 2 ** 53, Number.MAX_SAFE_INTEGER, '15000', true, null, [15000], { value: 1 }] as unknown[]).map((amount): Case => [`create: amount ${JSON.stringify(amount)}`, () => create({ amount }), json(400, 'invalid_field', 'amount')]),
  ['create: amount 1e309 (Infinity)', () => api('POST', '/v1/payments', '{"amount":1e309,"reference":"r","description":"d","return_url":"https://shop.example/"}'), json(400, 'invalid_field', 'amount')],
  ['create: amount -0.0', () => api('POST', '/v1/payments', '{"amount":-0.0,"reference":"r","description":"d","return_url":"https://shop.example/"}'), json(400, 'invalid_field', 'amount')],
  ['create: a lower-case currency', () => create({ currency: 'twd' }), json(400, 'invalid_field', 'currency')],
  ['create: an unknown currency', () => create({ currency: 'XYZ' }), json(400, 'invalid_field', 'currency')],
  ['create: no reference', () => create({ reference: undefined }), json(400, 'invalid_field', 'reference')],
  ['create: an empty reference', () => create({ reference: '' }), json(400, 'invalid_field', 'reference')],
  ['create: a 101-character reference', () => create({ reference: 'r'.repeat(101) }), json(400, 'invalid_field', 'reference')],
  ['create: a number as description', () => create({ description: 42 }), json(400, 'invalid_field', 'description')],
  ['create: an unknown field', () => create({ amount_major: 150 }), json(400, 'invalid_field', 'amount_major')],
  ['create: 21 metadata keys', () => create({ metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v'])) }), json(400, 'invalid_field', 'metadata')],
  ['create: metadata as an array', () => create({ metadata: ['a'] }), json(400, 'invalid_field', 'metadata')],
  ['create: a number as a metadata value', () => create({ metadata: { table: 7 } }), json(400, 'invalid_field', 'metadata.table')],
  ['create: a space in a metadata key', () => create({ metadata: { 'a b': 'x' } }), json(400, 'invalid_field', 'metadata.a b')],
  // Idempotency-Key and headers
  ['create: no Idempotency-Key', () => create({}, { idem: null }), json(400, 'idempotency_key_missing', 'Idempotency-Key')],
  ['create: an empty Idempotency-Key', () => create({}, { idem: '' }), json(400, 'invalid_field', 'Idempotency-Key')],
  ['create: a 256-character Idempotency-Key', () => create({}, { idem: 'k'.repeat(256) }), json(400, 'invalid_field', 'Idempotency-Key')],
  ['create: a space in Idempotency-Key', () => create({}, { idem: 'order 1' }), json(400, 'invalid_field', 'Idempotency-Key')],
  ['create: byte 0x85 in Idempotency-Key', () => create({}, { idem: 'order\x851' }), json(400, 'invalid_field', 'Idempotency-Key')],
  ['create: UTF-8 U+202E in Idempotency-Key', () => rawCreate(['Idempotency-Key: order-\xe2\x80\xae1']), json(400, 'invalid_field', 'Idempotency-Key')],
  ['create: a reused Idempotency-Key with another body', () => create({ amount: 15001 }, { idem: f.usedKey }), json(409, 'idempotency_conflict')],
  ['create: a bare CR in a header (injection)', () => rawCreate(['Idempotency-Key: a\rSet-Cookie: x=1']), { status: 400 }],
  ['create: a bare LF in a header (injection)', () => rawCreate(['Idempotency-Key: a\nX-Injected: 1']), { status: 400 }],
  ['create: a NUL in a header', () => rawCreate(['Idempotency-Key: a\x00b']), { status: 400 }],
  ['create: an obs-fold header continuation', () => rawCreate(['Idempotency-Key: a', ' Set-Cookie: x=1']), { status: 400 }],
  ['create: Content-Length and Transfer-Encoding (smuggling)', () => rawCreate(['Idempotency-Key: smuggle-1', 'Transfer-Encoding: chunked']), { status: 400 }],
  ['create: two different Content-Lengths', () => rawCreate(['Idempotency-Key: smuggle-2', 'Content-Length: 3']), { status: 400 }],
  ['create: no Authorization', () => create({}, { auth: null }), json(401, 'unauthorized', 'authorization')],
  ['create: a wrong API key', () => create({}, { auth: 'Bearer sk_not_a_real_key_at_all' }), json(401, 'unauthorized', 'authorization')],
  ['create: Basic instead of Bearer', () => create({}, { auth: `Basic ${Buffer.from('a:b').toString('base64')}` }), json(401, 'unauthorized', 'authorization')],
  ['create: byte 0x85 after the API key', () => create({}, { auth: `Bearer ${f.w.apiKey}\x85` }), json(401, 'unauthorized', 'authorization')],
  ['create: a 300-character API key', () => create({}, { auth: `Bearer ${'a'.repeat(300)}` }), json(401, 'unauthorized', 'authorization')],
  // list and read
  ...['limit=0', 'limit=101', 'limit=abc', 'limit=-1', 'limit=1.5', 'limit='].map((q): Case => [`list: ?${q}`, () => api('GET', `/v1/payments?${q}`), json(400, 'invalid_field', 'limit')]),
  ['list: an unknown status', () => api('GET', '/v1/payments?status=paid'), json(400, 'invalid_field', 'status')],
  ['list: a malformed starting_after', () => api('GET', '/v1/payments?starting_after=pay_x%27%20OR%201=1'), json(400, 'invalid_field', 'starting_after')],
  ['list: an unknown parameter', () => api('GET', '/v1/payments?sort=amount'), json(400, 'invalid_field', 'sort')],
  ['list: reference given twice', () => api('GET', '/v1/payments?reference=a&reference=b'), json(400, 'invalid_field', 'reference')],
  ['list: U+0085 in reference', () => api('GET', '/v1/payments?reference=a%C2%85b'), json(400, 'invalid_field', 'reference')],
  ['list: U+202E in reference', () => api('GET', '/v1/payments?reference=%E2%80%AEabc'), json(400, 'invalid_field', 'reference')],
  ['list: NUL in reference', () => api('GET', '/v1/payments?reference=a%00b'), json(400, 'invalid_field', 'reference')],
  ['list: no API key', () => api('GET', '/v1/payments', undefined, { auth: null }), json(401, 'unauthorized', 'authorization')],
  ...['pay_nope', 'pay_00000000000000000000000000', '..%2F..%2Fetc%2Fpasswd', 'pay_%E2%80%AE', `pay_${'A'.repeat(5000)}`].map((id): Case => [`get: id ${id.slice(0, 40)}`, () => api('GET', `/v1/payments/${id}`), json(404, 'not_found')]),
  ["get: another merchant's payment", () => api('GET', `/v1/payments/${f.open.id}`, undefined, { auth: `Bearer ${f.w.otherApiKey}` }), json(404, 'not_found')],
  ['transitions: an unknown id', () => api('GET', '/v1/payments/pay_nope/transitions'), json(404, 'not_found')],
  ["transitions: another merchant's payment", () => api('GET', `/v1/payments/${f.open.id}/transitions`, undefined, { auth: `Bearer ${f.w.otherApiKey}` }), json(404, 'not_found')],
  // cancel
  ['cancel: an unknown field', () => api('POST', `/v1/payments/${f.open.id}/cancel`, { reason: 'changed my mind' }), json(400, 'invalid_field', 'reason')],
  ['cancel: "__proto__"', () => api('POST', `/v1/payments/${f.open.id}/cancel`, '{"__proto__":{"force":true}}'), json(400, 'invalid_field', '__proto__')],
  ['cancel: a JSON array', () => api('POST', `/v1/payments/${f.open.id}/cancel`, '[]'), json(400, 'invalid_field', 'body')],
  ['cancel: malformed JSON', () => api('POST', `/v1/payments/${f.open.id}/cancel`, '{'), json(400, 'malformed_json', 'body')],
  ['cancel: a key twice', () => api('POST', `/v1/payments/${f.open.id}/cancel`, '{"a":1,"a":2}'), json(400, 'invalid_field')],
  ['cancel: text/plain body', () => api('POST', `/v1/payments/${f.open.id}/cancel`, 'cancel', { headers: { 'content-type': 'text/plain' } }), json(415, 'unsupported_media_type', 'content-type')],
  ['cancel: an unknown payment', () => api('POST', '/v1/payments/pay_nope/cancel', {}), json(404, 'not_found')],
  ["cancel: another merchant's payment", () => api('POST', `/v1/payments/${f.open.id}/cancel`, {}, { auth: `Bearer ${f.w.otherApiKey}` }), json(404, 'not_found')],
  ['cancel: no API key', () => api('POST', `/v1/payments/${f.open.id}/cancel`, {}, { auth: null }), json(401, 'unauthorized', 'authorization')],
  // refunds
  ...([-5, 0, 1.5, '100', 1e300] as unknown[]).map((amount): Case => [`refund: amount ${JSON.stringify(amount)}`, () => api('POST', `/v1/payments/${f.open.id}/refunds`, { amount }), json(400, 'invalid_field', 'amount')]),
  ['refund: U+0085 in reason', () => api('POST', `/v1/payments/${f.open.id}/refunds`, { reason: 'a\u0085b' }), json(400, 'invalid_field', 'reason')],
  ['refund: U+202E in reason', () => api('POST', `/v1/payments/${f.open.id}/refunds`, { reason: '\u202ednufer' }), json(400, 'invalid_field', 'reason')],
  ['refund: an unknown field', () => api('POST', `/v1/payments/${f.open.id}/refunds`, { amount: 1, currency: 'TWD' }), json(400, 'invalid_field', 'currency')],
  ['refund: "amount" twice', () => api('POST', `/v1/payments/${f.open.id}/refunds`, '{"amount":1,"amount":100000}'), json(400, 'invalid_field', 'amount')],
  ['refund: no Idempotency-Key', () => api('POST', `/v1/payments/${f.open.id}/refunds`, { amount: 1 }, { idem: null }), json(400, 'idempotency_key_missing', 'Idempotency-Key')],
  ['refund: text/plain body', () => api('POST', `/v1/payments/${f.open.id}/refunds`, '{}', { headers: { 'content-type': 'text/plain' } }), json(415, 'unsupported_media_type', 'content-type')],
  // events
  ...['after=-1', 'after=abc', 'after=1.5'].map((q): Case => [`events: ?${q}`, () => api('GET', `/v1/events?${q}`), json(400, 'invalid_field', 'after')]),
  ['events: limit=1000', () => api('GET', '/v1/events?limit=1000'), json(400, 'invalid_field', 'limit')],
  ['events: an unknown type', () => api('GET', '/v1/events?type=payment.stolen'), json(400, 'invalid_field', 'type')],
  ['events: U+0085 in type', () => api('GET', '/v1/events?type=payment.%C2%85'), json(400, 'invalid_field', 'type')],
  ['events: a malformed payment_id', () => api('GET', '/v1/events?payment_id=%E2%80%AEpay'), json(400, 'invalid_field', 'payment_id')],
  ['events: an unknown parameter', () => api('GET', '/v1/events?merchant=mer_x'), json(400, 'invalid_field', 'merchant')],
  ['events: no API key', () => api('GET', '/v1/events', undefined, { auth: null }), json(401, 'unauthorized', 'authorization')],
  // routes
  ['an unknown route', () => api('GET', '/v1/payment'), json(404, 'not_found', 'path')],
  ['DELETE on payments', () => api('DELETE', `/v1/payments/${f.open.id}`), json(404, 'not_found', 'path')],
  ['PUT on a payment', () => api('PUT', `/v1/payments/${f.open.id}`, goodBody()), json(404, 'not_found', 'path')],
];

const checkoutPages: Case[] = [
  ['page: no token', () => page(`/checkout/${f.open.id}`), html(404)],
  ['page: a wrong token', () => page(`/checkout/${f.open.id}?token=${'A'.repeat(43)}`), html(404)],
  ["page: another payment's token", () => page(`/checkout/${f.open.id}?token=${f.pw.token}`), html(404)],
  ['page: the token twice', () => page(`/checkout/${f.open.id}?token=${f.open.token}&token=${f.open.token}`), html(404)],
  ['page: an unknown payment', () => page(`/checkout/pay_nope?token=${f.open.token}`), html(404)],
  ['page: U+202E in the id', () => page(`/checkout/pay_%E2%80%AE?token=${f.open.token}`), html(404)],
  ['status: a wrong token', () => page(`/checkout/${f.open.id}/status?token=x`), html(404)],
  ['events: no token', () => page(`/checkout/${f.open.id}/events`), html(404)],
  ['return: a wrong token', () => page(`/checkout/${f.open.id}/return?token=${f.pw.token}`), html(404)],
  ['login: no CSRF field', () => form(`/checkout/${f.open.id}/login`, { token: f.open.token, login: 'alice' }), html(403)],
  ['login: a forged CSRF field', () => form(`/checkout/${f.open.id}/login`, { token: f.open.token, csrf: 'A'.repeat(43), login: 'alice' }), html(403)],
  ['login: the CSRF field without its cookie', () => form(`/checkout/${f.open.id}/login`, { token: f.open.token, csrf: f.open.csrf, login: 'alice' }, { client: new Client(f.url) }), html(403)],
  ["login: another payment's CSRF field", () => form(`/checkout/${f.open.id}/login`, { token: f.open.token, csrf: f.pw.csrf, login: 'alice' }), html(403)],
  ['login: a wrong token', () => form(`/checkout/${f.open.id}/login`, { token: f.pw.token, csrf: f.open.csrf, login: 'alice' }), html(404)],
  ['login: JSON instead of a form', () => form(`/checkout/${f.open.id}/login`, {}, { type: 'application/json', body: JSON.stringify({ token: f.open.token, csrf: f.open.csrf, login: 'alice' }) }), html(415)],
  ['login: multipart instead of a form', () => form(`/checkout/${f.open.id}/login`, {}, { type: 'multipart/form-data; boundary=x', body: '--x--\r\n' }), html(415)],
  ['login: a form in UTF-16', () => form(`/checkout/${f.open.id}/login`, {}, { type: 'application/x-www-form-urlencoded; charset=utf-16', body: 'login=alice' }), html(415)],
  ['login: a 9 KiB form', () => form(`/checkout/${f.open.id}/login`, { token: f.open.token, csrf: f.open.csrf, login: 'a'.repeat(9 * 1024) }), html(413)],
  ['login: 11 form fields', () => form(`/checkout/${f.open.id}/login`, { token: f.open.token, csrf: f.open.csrf, login: 'alice', ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`x${i}`, '1'])) }), html(413)],
  ...[...C1, ...BIDI, ...SEPARATORS, '\u0000'].map((ch): Case => [`login: ${hex(ch)} in the login account`, () => form(`/checkout/${f.open.id}/login`, { token: f.open.token, csrf: f.open.csrf, login: `ali${ch}ce` }), html(400)]),
  ...['\u0085', '\u202e', '\u2028'].map((ch): Case => [`password: ${hex(ch)} in the password`, () => form(`/checkout/${f.pw.id}/password`, { token: f.pw.token, csrf: f.pw.csrf, password: `correct${ch}horse` }), html(400)]),
  ['password: no CSRF field', () => form(`/checkout/${f.pw.id}/password`, { token: f.pw.token, password: PASSWORD }), html(403)],
  ['password: a 9 KiB form', () => form(`/checkout/${f.pw.id}/password`, { token: f.pw.token, csrf: f.pw.csrf, password: 'p'.repeat(9 * 1024) }), html(413)],
];

const qrLanding: Case[] = [
  ['QR: no signature', () => page(f.qrOpen.replace(/[?&]sig=[^&]*/, '')), html(404)],
  ['QR: a forged signature', () => page(f.qrOpen.replace(/sig=[^&]*/, `sig=${'A'.repeat(43)}`)), html(404)],
  ['QR: a changed amount', () => page(f.qrFixed.replace(/amount=\d+/, 'amount=1')), html(404)],
  ['QR: the amount twice', () => page(f.qrFixed.replace(/amount=(\d+)/, 'amount=$1&amount=1')), html(404)],
  ['QR: an added U+202E reference', () => page(f.qrOpen.replace('&sig=', '&reference=%E2%80%AE1&sig=')), html(404)],
  ['QR: an unknown merchant', () => page(f.qrOpen.replace(f.w.merchantId, 'mer_nope')), html(404)],
  ['QR post: no CSRF field', () => form(f.qrOpen, { amount: '150' }, { client: f.qrBrowser }), html(403)],
  ['QR post: a forged CSRF field', () => form(f.qrOpen, { csrf: 'A'.repeat(43), amount: '150' }, { client: f.qrBrowser }), html(403)],
  ['QR post: the CSRF field without its cookie', () => form(f.qrOpen, { csrf: f.qrCsrf, amount: '150' }, { client: new Client(f.url) }), html(403)],
  ['QR post: a forged signature', () => form(f.qrOpen.replace(/sig=[^&]*/, `sig=${'A'.repeat(43)}`), { csrf: f.qrCsrf, amount: '150' }, { client: f.qrBrowser }), html(404)],
  ['QR post: JSON instead of a form', () => form(f.qrOpen, {}, { client: f.qrBrowser, type: 'application/json', body: JSON.stringify({ csrf: f.qrCsrf, amount: '150' }) }), html(415)],
  ['QR post: a 5 KiB form', () => form(f.qrOpen, { csrf: f.qrCsrf, amount: '1'.repeat(5 * 1024) }, { client: f.qrBrowser }), html(413)],
  ...['\u0085', '\u009b', '\u202e', '\u2066', '\u200f', '\u2028'].map((ch): Case => [`QR post: ${hex(ch)} in the amount`, () => form(f.qrOpen, { csrf: f.qrCsrf, amount: `15${ch}0` }, { client: f.qrBrowser }), html(400)]),
  ...['abc', '-5', '1e3', '0', '1.234', '99999999999999999999', ''].map((amount): Case => [`QR post: amount ${JSON.stringify(amount)}`, () => form(f.qrOpen, { csrf: f.qrCsrf, amount }, { client: f.qrBrowser }), html(422)]),
  ['QR done: an unknown merchant', () => page(`/pay/mer_nope/done?payment_id=${f.open.id}&status=succeeded&t=1&signature=${'0'.repeat(64)}`), html(404)],
];

describe('HTTP bad-input corpus: every route refuses hostile requests and writes nothing', () => {
  beforeAll(async () => {
    const w = await startWorld({ CALLPAY_RATE_LIMIT_BURST: '100000', CALLPAY_RATE_LIMIT_PER_SECOND: '100000' });
    await enrolPrepaid(w, 'alice', '1000');
    await enrolPrepaid(w, 'carol', '1000');
    expect((await w.cli(['consumer', 'set-password', 'carol', '--password-stdin'], `${PASSWORD}\n`)).code).toBe(0);
    expect((await w.cli(['consumer', 'policy', 'carol', '--password-above', '0'])).code).toBe(0);
    const browser = new Client(w.daemon.url);
    const open = await createPayment(w);
    const pw = await createPayment(w);
    const openPage = await browser.get(open.path);
    expect(stepOf(openPage.text)).toBe('login');
    expect((await signIn(browser, pw, 'carol')).status).toBe(303);
    const pwPage = await browser.get(pw.path);
    expect(stepOf(pwPage.text)).toBe('password');
    const usedKey = 'corpus-used';
    expect((await w.api('POST', '/v1/payments', { idem: usedKey, body: goodBody() })).status).toBe(201);

    const qrPath = async (args: string[]) => {
      const r = await w.cli(['merchant', 'qr', w.merchantId, ...args, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const u = new URL((JSON.parse(r.stdout) as { url: string }).url);
      return `${u.pathname}${u.search}`;
    };
    const qrOpen = await qrPath([]);
    const qrFixed = await qrPath(['--amount', '150']);
    const qrBrowser = new Client(w.daemon.url);
    const qrPage = await qrBrowser.get(qrOpen);
    expect(qrPage.status).toBe(200);
    f = {
      w, url: w.daemon.url, browser, qrOpen, qrFixed, qrBrowser, usedKey,
      open: { ...open, csrf: field(openPage.text, 'csrf') },
      pw: { ...pw, csrf: field(pwPage.text, 'csrf') },
      qrCsrf: field(qrPage.text, 'csrf'),
    };
  });
  afterAll(async () => f?.w.close());

  async function expectRefused(run: () => Promise<Reply>, e: Expect) {
    const before = dumpDatabase(f.w.ctx.config.database);
    const r = await run();
    expect(r.status, r.text.slice(0, 300)).toBe(e.status);
    if (e.code !== undefined) {
      expect(r.type).toMatch(/^application\/json/);
      const error = (JSON.parse(r.text) as { error: { code: string; field?: string; message: string } }).error;
      expect(error.code, r.text).toBe(e.code);
      expect(typeof error.field, r.text).toBe('string');
      if (e.field !== undefined) expect(error.field, r.text).toBe(e.field);
      expect(error.message).not.toMatch(/[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/);
    }
    if (e.html) {
      expect(r.type).toMatch(/^text\/html/);
      expect(r.text).toMatch(/^<!doctype html>/i);
      expect(r.text).not.toMatch(/[\u0080-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/);
    }
    expect(dumpDatabase(f.w.ctx.config.database), 'the database is row for row as before').toBe(before);
  }

  it.each(merchantApi)('merchant API: %s', async (_name, run, e) => expectRefused(run, e));
  it.each(checkoutPages)('checkout: %s', async (_name, run, e) => expectRefused(run, e));
  it.each(qrLanding)('QR landing: %s', async (_name, run, e) => expectRefused(run, e));

  it('a forged QR "done" link shows "not verified" and writes nothing', async () => {
    await expectRefused(() => page(`/pay/${f.w.merchantId}/done?payment_id=${f.open.id}&status=succeeded&t=${Math.floor(Date.now() / 1000)}&signature=${'0'.repeat(64)}`), html(200));
    expect((await page(`/pay/${f.w.merchantId}/done?payment_id=${f.open.id}&status=succeeded&t=1&signature=${'0'.repeat(64)}`)).text).toContain('data-testid="error"');
  });

  it('a business refusal writes only its idempotent reply, never a half payment', async () => {
    for (const [over, code] of [[{ login_account: 'nobody.here' }, 'unknown_consumer'], [{ amount: 5_000_001 }, 'amount_too_large']] as const) {
      const before = JSON.parse(dumpDatabase(f.w.ctx.config.database)) as Record<string, unknown[]>;
      const r = await create(over);
      expect(r.status).toBe(422);
      expect(JSON.parse(r.text).error.code).toBe(code);
      const after = JSON.parse(dumpDatabase(f.w.ctx.config.database)) as Record<string, unknown[]>;
      for (const table of Object.keys(before)) {
        if (table === 'idempotency_keys') expect(after[table]!.length).toBe(before[table]!.length + 1);
        else expect(after[table], table).toEqual(before[table]);
      }
    }
  });

  it('still serves well-formed requests after the corpus, and the untouched payments are where they were', async () => {
    expect((await send('GET', '/healthz', { auth: null, idem: null })).status).toBe(200);
    const ok = await create({ metadata: { table: '7', note: '中文 ok, émoji 👍🏽' } });
    expect(ok.status, ok.text).toBe(201);
    expect(JSON.parse(ok.text).metadata).toEqual({ table: '7', note: '中文 ok, émoji 👍🏽' });
    expect(f.w.db.prepare('SELECT status FROM payments WHERE id = ?').pluck().get(f.open.id)).toBe('requires_consumer');
    expect(f.w.db.prepare('SELECT status FROM payments WHERE id = ?').pluck().get(f.pw.id)).toBe('requires_password');
    const canceled = await api('POST', `/v1/payments/${f.open.id}/cancel`, {});
    expect(canceled.status, canceled.text).toBe(200);
    const empty = await send('POST', `/v1/payments/${JSON.parse(ok.text).id}/cancel`, {});
    expect(empty.status, empty.text).toBe(200);
  });

  it('covers every route of the daemon', () => {
    const names = [...merchantApi, ...checkoutPages, ...qrLanding].map(([name]) => name);
    for (const route of ['create', 'list', 'get', 'transitions', 'cancel', 'refund', 'events', 'page', 'status', 'return', 'login', 'password', 'QR:', 'QR post', 'QR done']) {
      expect(names.some((n) => n.startsWith(route)), route).toBe(true);
    }
    expect(names.length).toBeGreaterThan(150);
  });
});
