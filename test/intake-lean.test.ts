import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorld, type TestWorld } from './helpers/daemon.js';
import { leanCreatePayment } from '../src/intake/lean.js';
import { RateLimiter } from '../src/intake/auth.js';
import { createLogger } from '../src/log.js';

describe('which requests the lean path takes', () => {
  const lean = leanCreatePayment({
    log: createLogger({ level: 'silent' }),
    merchants: { findByApiKey: async () => undefined } as never,
    limiter: new RateLimiter({ perSecond: 1, burst: 1, clock: () => new Date() }),
    create: async () => { throw new Error('not reached'); },
  });
  const res = { setHeader() {}, end() {}, on() {}, headersSent: false, destroyed: false, statusCode: 0 };
  const takes = (method: string, url: string, headers: Record<string, string>) =>
    lean({ method, url, headers } as never, res as never);
  const json = { 'content-type': 'application/json', 'content-length': '2' };

  it.each([
    ['plain JSON with a length', 'POST', '/v1/payments', json, true],
    ['chunked JSON', 'POST', '/v1/payments', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, true],
    ['charset=UTF-8', 'POST', '/v1/payments', { ...json, 'content-type': 'application/json; charset=UTF-8' }, true],
    ['any Content-Encoding', 'POST', '/v1/payments', { ...json, 'content-encoding': 'identity' }, false],
    ['another charset', 'POST', '/v1/payments', { ...json, 'content-type': 'application/json; charset=latin1' }, false],
    ['another type', 'POST', '/v1/payments', { ...json, 'content-type': 'text/plain' }, false],
    ['no body at all', 'POST', '/v1/payments', { 'content-type': 'application/json' }, false],
    ['a query string', 'POST', '/v1/payments?x=1', json, false],
    ['another path', 'POST', '/v1/payments/pay_1/cancel', json, false],
    ['GET', 'GET', '/v1/payments', json, false],
  ])('%s: %s', (_name, method, url, headers, taken) => {
    expect(takes(method, url, headers)).toBe(taken);
  });
});


/**
 * The lean POST /v1/payments path (intake/lean.ts) against the express route it stands in for: the
 * same request sent both ways gets the same answer. "Content-Encoding: identity" means no encoding
 * to express's body parser but makes the lean path pass the request on, so it reaches express.
 */
describe('lean create path', () => {
  let w: TestWorld;
  let seq = 0;
  beforeAll(async () => {
    w = await startWorld();
  });
  afterAll(() => w.close());

  interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: unknown }

  /** One raw request on its own connection: exact bytes, chunked when `chunked`. */
  function send(path: 'lean' | 'express', headers: Record<string, string>, body: string | Buffer, chunked = false): Promise<Answer> {
    const all: Record<string, string> = { authorization: `Bearer ${w.apiKey}`, 'content-type': 'application/json', ...headers };
    if (path === 'express') all['content-encoding'] = 'identity';
    if (!chunked) all['content-length'] = String(Buffer.byteLength(body));
    const url = new URL('/v1/payments', w.daemon.url);
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'POST', headers: all, agent: false, timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined });
        });
      });
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      if (chunked) {
        const bytes = Buffer.from(body);
        req.write(bytes.subarray(0, 5));
        req.end(bytes.subarray(5));
      } else req.end(body);
    });
  }

  const valid = () => ({ amount: 1500, currency: 'TWD', reference: `ref-${++seq}`, description: 'Lean test', return_url: 'https://shop.example/done' });

  /** Both paths, each with its own Idempotency-Key (unless the case sets one): status, error and headers match. */
  async function both(headers: Record<string, string>, body: (p: 'lean' | 'express') => string | Buffer, chunked = false): Promise<[Answer, Answer]> {
    const key = () => ({ 'idempotency-key': `lean-${++seq}` });
    const lean = await send('lean', { ...key(), ...headers }, body('lean'), chunked);
    const express = await send('express', { ...key(), ...headers }, body('express'), chunked);
    expect(lean.status).toBe(express.status);
    for (const h of ['content-type', 'cache-control', 'retry-after', 'idempotent-replayed']) expect(lean.headers[h], h).toEqual(express.headers[h]);
    expect(lean.headers['request-id']).toMatch(/^[0-9a-f-]{36}$/);
    if (lean.status >= 400) expect(lean.body).toEqual(express.body);
    return [lean, express];
  }

  it('creates the same payment resource as the express route', async () => {
    const [lean, express] = await both({}, () => JSON.stringify(valid()));
    expect(lean.status).toBe(201);
    const shape = (a: Answer) => Object.keys(a.body as object).sort();
    expect(shape(lean)).toEqual(shape(express));
    const { id, checkout_url: url, reference, auth_req_id: _a, ...rest } = lean.body as Record<string, unknown>;
    expect(id).toMatch(/^pay_/);
    expect(url).toContain(String(id));
    expect(reference).toMatch(/^ref-/);
    const { id: _i, checkout_url: _u, reference: _r, auth_req_id: _b, ...restExpress } = express.body as Record<string, unknown>;
    expect({ ...rest, created_at: 0, expires_at: 0 }).toEqual({ ...restExpress, created_at: 0, expires_at: 0 });
  });

  it('takes a chunked body and a byte order mark like body-parser', async () => {
    expect((await both({}, () => JSON.stringify(valid()), true))[0].status).toBe(201);
    expect((await both({}, () => `\uFEFF${JSON.stringify(valid())}`))[0].status).toBe(201);
  });

  it.each([
    ['malformed JSON', '{"amount": 15', 'malformed_json'],
    ['a top-level string (strict JSON)', '"hello"', 'malformed_json'],
    ['only blanks', '   ', 'malformed_json'],
    ['a duplicate key', '{"amount": 1, "amount": 1500}', 'invalid_field'],
    ['an unknown field', JSON.stringify({ ...{ amount: 1, currency: 'TWD', reference: 'r', description: 'd', return_url: 'https://a.example/' }, extra: 1 }), 'invalid_field'],
    ['an empty body', '', 'invalid_field'],
    ['a control character', JSON.stringify({ amount: 1, currency: 'TWD', reference: 'r\u0007', description: 'd', return_url: 'https://a.example/' }), 'invalid_field'],
  ])('refuses %s alike', async (_name, body, code) => {
    const [lean] = await both({}, () => body);
    expect((lean.body as { error: { code: string } }).error.code).toBe(code);
  });

  it('refuses a body over 16 KiB alike, declared or chunked', async () => {
    const big = JSON.stringify({ ...valid(), description: 'x'.repeat(17_000) });
    expect((await both({}, () => big))[0].status).toBe(413);
    expect((await both({}, () => big, true))[0].status).toBe(413);
  });

  it('refuses bad credentials and a missing or bad Idempotency-Key alike', async () => {
    expect((await both({ authorization: 'Bearer nope' }, () => JSON.stringify(valid())))[0].status).toBe(401);
    expect((await both({ authorization: 'Basic abc' }, () => JSON.stringify(valid())))[0].status).toBe(401);
    const missing = await Promise.all((['lean', 'express'] as const).map((p) => send(p, {}, JSON.stringify(valid()))));
    expect(missing.map((a) => a.status)).toEqual([400, 400]);
    expect(missing[0]!.body).toEqual(missing[1]!.body);
    expect((await both({ 'idempotency-key': 'has space' }, () => JSON.stringify(valid())))[0].status).toBe(400);
  });

  it('replays across the two paths: one payment, the second answer marked', async () => {
    const body = JSON.stringify(valid());
    const first = await send('lean', { 'idempotency-key': 'cross-path' }, body);
    const again = await send('express', { 'idempotency-key': 'cross-path' }, body);
    expect(first.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const conflict = await send('lean', { 'idempotency-key': 'cross-path' }, JSON.stringify({ ...valid(), amount: 99 }));
    expect((conflict.body as { error: { code: string } }).error.code).toBe('idempotency_conflict');
  });

  it('shares one rate limit with the express routes', async () => {
    const limited = await startWorld({ CALLPAY_RATE_LIMIT_PER_SECOND: '1', CALLPAY_RATE_LIMIT_BURST: '2' });
    try {
      const key = { authorization: `Bearer ${limited.apiKey}` };
      const url = `${limited.daemon.url}/v1/payments`;
      expect((await fetch(url, { headers: key })).status).toBe(200); // express: one token
      const post = (n: number) => fetch(url, { method: 'POST', headers: { ...key, 'content-type': 'application/json', 'idempotency-key': `rl-${n}` }, body: JSON.stringify(valid()) });
      expect((await post(1)).status).toBe(201); // lean: the second
      const refused = await post(2);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    } finally {
      await limited.close();
    }
  });
});
