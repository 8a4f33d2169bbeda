import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRiskHookClient } from '../src/risk/hook-client.js';
import { createRiskCheck, type RiskCheckResult } from '../src/risk/check.js';
import { judge, type RiskRules } from '../src/risk/rules.js';
import { riskCheckRequest } from '../src/risk/contract.js';
import { readRiskSecrets } from '../src/risk/from-config.js';
import { loadConfig } from '../src/config/load.js';
import { riskHookYaml } from '../scripts/risk-hook-doc.js';
import { verifySignature } from '../src/notify/signature.js';
import { createLogger } from '../src/log.js';
import { waitFor } from './helpers/wait.js';
import { allowAnswer, closedPort, startHookServer, type HookServer } from './risk-hook-server.js';

const SECRET = 'risk-secret-0123456789abcdefghijklmnop';
const OLD_SECRET = 'risk-secret-previous-0123456789abcdefgh';
const PHONE = '+886912345678';
const subject = { phone: PHONE, paymentId: 'pay_01JDAAAAAAAAAAAAAAAAAAAAAA', merchantId: 'mer_01JDBBBBBBBBBBBBBBBBBBBBBB', amount: 15000, currency: 'TWD', live: true };
const RULES: RiskRules = { simSwapWithinHours: 72, simSwap: 'require_password', ported: 'allow', forwarded: 'refuse' };

describe('risk rules (pure)', () => {
  it('takes the strictest of the matching rules and the hook decision; unknown signals match nothing', () => {
    expect(judge(allowAnswer as never, RULES)).toEqual({ action: 'allow', signals: [] });
    expect(judge({ sim_swapped_within_hours: 72, ported: null, forwarded: null }, RULES)).toEqual({ action: 'require_password', signals: ['sim_swap'] });
    expect(judge({ sim_swapped_within_hours: 73, ported: null, forwarded: null }, RULES).action).toBe('allow');
    expect(judge({ sim_swapped_within_hours: 0, ported: true, forwarded: 'unconditional' }, RULES)).toEqual({ action: 'refuse', signals: ['sim_swap', 'forwarded'] });
    expect(judge({ sim_swapped_within_hours: null, ported: null, forwarded: null, decision: 'require_password' }, RULES)).toEqual({ action: 'require_password', signals: ['hook_decision'] });
    // The hook cannot loosen a rule: its "allow" does not undo a forwarded number.
    expect(judge({ sim_swapped_within_hours: null, ported: null, forwarded: 'unconditional', decision: 'allow' }, RULES).action).toBe('refuse');
  });
});

describe('risk hook client against a local hook server', () => {
  let hook: HookServer;
  beforeAll(async () => {
    hook = await startHookServer();
  });
  afterAll(() => hook.close());
  const client = (timeoutMs = 400, url = hook.url) => createRiskHookClient({ url, secrets: [SECRET, OLD_SECRET], timeoutMs, clock: () => new Date() });

  it('sends the contract body, signed with every secret like webhooks', async () => {
    hook.behave({ kind: 'answer', body: { ...allowAnswer, sim_swapped_within_hours: 5, extra_field: 'ignored' } });
    const r = await client()(subject);
    expect(r).toEqual({ kind: 'answer', httpStatus: 200, answer: { sim_swapped_within_hours: 5, ported: false, forwarded: 'none' } });
    const got = hook.received.at(-1)!;
    const body = riskCheckRequest.parse(JSON.parse(got.raw));
    expect(body.data).toEqual({ phone_number: PHONE, payment_id: subject.paymentId, merchant_id: subject.merchantId, amount: 15000, currency: 'TWD', live: true });
    expect(got.headers['callpay-request-id']).toBe(body.id);
    expect(got.headers['content-type']).toBe('application/json');
    const header = String(got.headers['callpay-signature']);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    expect(verifySignature(header, got.raw, SECRET)).toBe(true);
    expect(verifySignature(header, got.raw, OLD_SECRET)).toBe(true);
    expect(verifySignature(header, got.raw, 'another-secret-0123456789abcdefghijkl')).toBe(false);
    expect(verifySignature(header, got.raw.replace('15000', '15001'), SECRET)).toBe(false);
  });

  it('a slow hook is a timeout, returned within the timeout (not when the hook finally answers)', async () => {
    hook.behave({ kind: 'slow', ms: 5000, body: allowAnswer });
    const started = Date.now();
    const r = await client(300)(subject);
    expect(r).toMatchObject({ kind: 'failure', failure: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a refused connection and a reset connection are unreachable', async () => {
    const port = await closedPort();
    expect(await client(400, `http://127.0.0.1:${port}/risk`)(subject)).toMatchObject({ kind: 'failure', failure: 'unreachable', detail: expect.stringContaining('ECONNREFUSED') });
    hook.behave({ kind: 'reset' });
    expect(await client()(subject)).toMatchObject({ kind: 'failure', failure: 'unreachable' });
  });

  it('non-2xx and redirects are HTTP errors; non-JSON, off-contract and oversized answers are malformed', async () => {
    hook.behave({ kind: 'answer', status: 503, body: allowAnswer });
    expect(await client()(subject)).toMatchObject({ kind: 'failure', failure: 'http_error', httpStatus: 503 });
    hook.behave({ kind: 'raw', status: 302, text: '' });
    expect(await client()(subject)).toMatchObject({ kind: 'failure', failure: 'http_error', httpStatus: 302 });
    hook.behave({ kind: 'raw', text: '{"sim_swapped_within_hours": nul' });
    expect(await client()(subject)).toMatchObject({ kind: 'failure', failure: 'malformed', detail: 'answer is not JSON' });
    hook.behave({ kind: 'answer', body: {} });
    expect(await client()(subject)).toMatchObject({ kind: 'failure', failure: 'malformed', detail: expect.stringContaining('sim_swapped_within_hours') });
    hook.behave({ kind: 'answer', body: { ...allowAnswer, forwarded: 'conditional' } });
    expect(await client()(subject)).toMatchObject({ kind: 'failure', failure: 'malformed', detail: expect.stringContaining('forwarded') });
    hook.behave({ kind: 'answer', body: { ...allowAnswer, decision: 'maybe' } });
    expect(await client()(subject)).toMatchObject({ kind: 'failure', failure: 'malformed' });
    hook.behave({ kind: 'answer', body: { ...allowAnswer, sim_swapped_within_hours: 1.5 } });
    expect(await client()(subject)).toMatchObject({ kind: 'failure', failure: 'malformed' });
    hook.behave({ kind: 'raw', text: JSON.stringify({ ...allowAnswer, pad: 'x'.repeat(20_000) }) });
    expect(await client()(subject)).toMatchObject({ kind: 'failure', failure: 'malformed' });
  });
});

describe('risk check (hook + rules + onFailure)', () => {
  let hook: HookServer;
  beforeAll(async () => {
    hook = await startHookServer();
  });
  afterAll(() => hook.close());

  function checker(onFailure: 'allow' | 'refuse') {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', destination: new Writable({ write(chunk: Buffer, _e, cb) { lines.push(chunk.toString()); cb(); } }) });
    const counts: RiskCheckResult[] = [];
    const check = createRiskCheck({ hook: createRiskHookClient({ url: hook.url, secrets: [SECRET], timeoutMs: 300, clock: () => new Date() }), rules: RULES, onFailure, count: (r) => counts.push(r) });
    return { run: () => check.check(subject, log, new AbortController().signal), lines, counts };
  }

  it.each(['allow', 'refuse'] as const)('onFailure %s: failures take the configured action, answers the rules; the number is never logged', async (onFailure) => {
    const c = checker(onFailure);
    hook.behave({ kind: 'answer', body: { ...allowAnswer, forwarded: 'unconditional' } });
    expect(await c.run()).toMatchObject({ action: 'refuse', failed: false, reason: 'pre-dial risk check: refuse (forwarded)' });
    hook.behave({ kind: 'answer', body: { ...allowAnswer, decision: 'require_password' } });
    expect(await c.run()).toMatchObject({ action: 'require_password', failed: false });
    hook.behave({ kind: 'answer', body: allowAnswer });
    expect(await c.run()).toMatchObject({ action: 'allow', failed: false });
    for (const b of [{ kind: 'slow', ms: 3000, body: allowAnswer }, { kind: 'reset' }, { kind: 'raw', text: 'not json' }, { kind: 'answer', status: 500, body: {} }] as const) {
      hook.behave(b);
      const v = await c.run();
      expect(v).toMatchObject({ action: onFailure, failed: true });
      expect(v.reason).not.toContain('912345678');
    }
    expect(c.counts).toEqual(['refuse', 'require_password', 'allow', 'timeout', 'unreachable', 'malformed', 'http_error']);
    const logged = c.lines.join('');
    expect(logged).toContain('pre-dial risk check failed');
    expect(logged).not.toContain('912345678');
  });

  it('a check abandoned by callpay (the payment expired mid-check) is not counted and never dials', async () => {
    const c = checker('allow');
    const check = createRiskCheck({ hook: createRiskHookClient({ url: hook.url, secrets: [SECRET], timeoutMs: 5000, clock: () => new Date() }), rules: RULES, onFailure: 'allow', count: (r) => c.counts.push(r) });
    hook.behave({ kind: 'slow', ms: 5000, body: allowAnswer });
    const abort = new AbortController();
    const asked = hook.received.length;
    const pending = check.check(subject, createLogger({ level: 'silent' }), abort.signal);
    await waitFor('the hook to be asked', () => hook.received.length > asked);
    abort.abort();
    expect(await pending).toMatchObject({ action: 'refuse', failed: true });
    expect(c.counts).toEqual([]);
  });
});

describe('risk hook configuration and contract document', () => {
  it('reads one secret a line, newest first, and refuses a missing, empty or weak file naming the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'risk-'));
    try {
      const file = join(dir, 'secrets');
      writeFileSync(file, `${SECRET}\n\n${OLD_SECRET}\n`);
      expect(readRiskSecrets(file)).toEqual([SECRET, OLD_SECRET]);
      writeFileSync(file, '\n');
      expect(() => readRiskSecrets(file)).toThrow(expect.objectContaining({ code: 'config_invalid', field: 'risk.hook.secretFile' }));
      writeFileSync(file, 'short\n');
      expect(() => readRiskSecrets(file)).toThrow(expect.objectContaining({ code: 'config_invalid' }));
      expect(() => readRiskSecrets(join(dir, 'absent'))).toThrow(expect.objectContaining({ code: 'config_invalid', field: 'risk.hook.secretFile' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is off by default; a url needs an absolute secretFile; a bad action names its key', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'risk-config-'));
    const load = (env: Record<string, string>) => loadConfig({ cwd, env });
    expect(load({}).risk).toEqual({ hook: { url: null, secretFile: null, timeoutMs: 1500, onFailure: 'allow' }, rules: { simSwapWithinHours: 72, simSwap: 'require_password', ported: 'require_password', forwarded: 'refuse' }, sipForwarding: 'refuse', fraudReports: { disableMerchantAfter: 0, windowHours: 24 } });
    expect(() => load({ CALLPAY_RISK_HOOK_URL: 'http://127.0.0.1:9/risk' })).toThrow(expect.objectContaining({ code: 'config_invalid', field: 'risk.hook.secretFile' }));
    expect(() => load({ CALLPAY_RISK_HOOK_URL: 'http://127.0.0.1:9/risk', CALLPAY_RISK_HOOK_SECRET_FILE: 'risk.secrets' })).toThrow(expect.objectContaining({ field: 'risk.hook.secretFile' }));
    expect(() => load({ CALLPAY_RISK_HOOK_URL: 'ftp://carrier/risk', CALLPAY_RISK_HOOK_SECRET_FILE: '/etc/callpay/risk' })).toThrow(expect.objectContaining({ field: 'risk.hook.url' }));
    expect(() => load({ CALLPAY_RISK_RULES_FORWARDED: 'block' })).toThrow(expect.objectContaining({ field: 'risk.rules.forwarded' }));
    expect(() => load({ CALLPAY_RISK_HOOK_ON_FAILURE: 'require_password' })).toThrow(expect.objectContaining({ field: 'risk.hook.onFailure' }));
    expect(() => load({ CALLPAY_RISK_SIP_FORWARDING: 'require_password' })).toThrow(expect.objectContaining({ field: 'risk.sipForwarding' }));
    expect(load({ CALLPAY_RISK_HOOK_URL: 'https://risk.carrier.example/v1/check', CALLPAY_RISK_HOOK_SECRET_FILE: '/etc/callpay/risk', CALLPAY_RISK_HOOK_ON_FAILURE: 'refuse' }).risk.hook)
      .toEqual({ url: 'https://risk.carrier.example/v1/check', secretFile: '/etc/callpay/risk', timeoutMs: 1500, onFailure: 'refuse' });
    rmSync(cwd, { recursive: true, force: true });
  });

  it('docs/risk-hook.openapi.yaml is what the code generates (run `npx tsx scripts/risk-hook-doc.ts` after changing the contract)', () => {
    expect(readFileSync('docs/risk-hook.openapi.yaml', 'utf8')).toBe(riskHookYaml());
  });
});
