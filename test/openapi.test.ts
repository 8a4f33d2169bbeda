import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startWorld, type TestWorld } from './helpers/daemon.js';
import { checkApiResponse, openApiYaml } from './helpers/openapi.js';
import { openApiDocument } from '../src/intake/openapi.js';
import { VERSION } from '../src/version.js';
import { ERROR_CODES } from '../src/domain/errors.js';

/** Issue 13, item 2: one description of the API, from the code, checked on every API test response. */
describe('OpenAPI document', () => {
  let w: TestWorld;
  beforeAll(async () => {
    w = await startWorld();
  });
  afterAll(async () => w.close());

  it('openapi.yaml is what the code generates (run `npm run openapi` after changing the API)', () => {
    expect(readFileSync('openapi.yaml', 'utf8')).toBe(openApiYaml());
    expect(parse(readFileSync('openapi.yaml', 'utf8'))).toEqual(openApiDocument(VERSION));
  });

  it('is served at /v1/openapi.json without a key, and carries the package version', async () => {
    const res = await fetch(`${w.daemon.url}/v1/openapi.json`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(openApiDocument(VERSION));
    expect(VERSION).toBe((JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version);
  });

  it('lists error codes per route, each a known code, with 401/403/429 on every authenticated route', () => {
    const doc = openApiDocument(VERSION) as { paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, { 'x-error-codes'?: string[] }> }>> };
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const codes = Object.values(op.responses).flatMap((r) => r['x-error-codes'] ?? []);
        for (const c of codes) expect(ERROR_CODES, `${method} ${path}`).toContain(c);
        if (op.security === undefined) expect(codes, `${method} ${path}`).toEqual(expect.arrayContaining(['unauthorized', 'merchant_disabled', 'rate_limited', 'internal']));
      }
    }
  });

  it('refuses a response the document does not describe', () => {
    expect(() => checkApiResponse('GET', '/v1/payments/pay_01ARZ3NDEKTSV4RRFFQ69G5FAV', 200, { id: 'x' })).toThrow(/does not match/);
    expect(() => checkApiResponse('GET', '/v1/payments/pay_01ARZ3NDEKTSV4RRFFQ69G5FAV', 418, {})).toThrow(/does not list/);
    expect(() => checkApiResponse('GET', '/v1/payments', 404, { error: { code: 'refund_exceeds_charge', message: 'x' } })).toThrow(/does not list|does not match/);
  });
});
