import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolPrepaid, eventually, finalOf, startWorld, type TestWorld } from './helpers/daemon.js';
import { Client, PASSWORD, createPayment, enterPassword, stepOf, type Created } from './helpers/checkout.js';
import { tempDir } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';
import { verifySignature } from '../src/notify/signature.js';
import { riskCheckRequest } from '../src/risk/contract.js';
import { allowAnswer, startHookServer, type HookServer } from './risk-hook-server.js';

/**
 * The pre-dial risk check end to end: the daemon (scripted engine) asks a real hook server on
 * 127.0.0.1 before every authorization call, in fail-open and fail-closed modes.
 */
const SECRET = 'risk-e2e-secret-0123456789abcdefghijkl';
const TIMEOUT_MS = 300;
const SLOW = { kind: 'slow', ms: 5_000, body: allowAnswer } as const;

interface RiskWorld {
  w: TestWorld;
  hook: HookServer;
  close(): Promise<void>;
}

async function riskWorld(onFailure: 'allow' | 'refuse'): Promise<RiskWorld> {
  const hook = await startHookServer();
  const dir = tempDir();
  const secretFile = join(dir.path, 'risk-secrets');
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const w = await startWorld({
    CALLPAY_RISK_HOOK_URL: hook.url,
    CALLPAY_RISK_HOOK_SECRET_FILE: secretFile,
    CALLPAY_RISK_HOOK_TIMEOUT_MS: String(TIMEOUT_MS),
    CALLPAY_RISK_HOOK_ON_FAILURE: onFailure,
    CALLPAY_RISK_RULES_SIM_SWAP_WITHIN_HOURS: '48',
  });
  // alice: no password. carol: a password her policy asks for. dora: a password her policy skips.
  await enrolPrepaid(w, 'alice', '100000');
  for (const login of ['carol', 'dora']) {
    await enrolPrepaid(w, login, '100000');
    expect((await w.cli(['consumer', 'set-password', login, '--password-stdin'], `${PASSWORD}\n`)).code).toBe(0);
  }
  expect((await w.cli(['consumer', 'policy', 'dora', '--password-above', '50000'])).code).toBe(0);
  return {
    w, hook,
    async close() {
      await w.close();
      await hook.close();
      dir.remove();
    },
  };
}

/** A payment the merchant names the consumer of: the call (and so the check) starts at once. */
const pay = (w: TestWorld, login: string) => createPayment(w, { login_account: login });

const transitions = async (w: TestWorld, id: string) => ((await w.api('GET', `/v1/payments/${id}/transitions`)).body.data as Array<{ to: string; reason: string }>);

async function riskMetric(w: TestWorld, result: string): Promise<number> {
  const text = await (await fetch(`${w.daemon.adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  return Number(new RegExp(`^callpay_risk_checks_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

/** Asserts the payment ended without any call placed, with this status and code, and says so in the webhook event. */
async function endedUndialled(w: TestWorld, p: Created, dialsBefore: number, status: string, code: string): Promise<void> {
  expect(await finalOf(w, p.id)).toMatchObject({ status, failure_code: code });
  expect(w.engine.requests, 'no call placed').toHaveLength(dialsBefore);
  type Event = { type: string; data: { payment: { id: string; failure_code: string | null } } };
  const events: Event[] = [];
  for (let after = 0, page = 0; page < 20; page++) {
    const r = (await w.api('GET', `/v1/events?limit=100&after=${after}`)).body as { data: Event[]; has_more: boolean; next_after: number };
    events.push(...r.data);
    if (!r.has_more) break;
    after = r.next_after;
  }
  expect(events.find((e) => e.data.payment.id === p.id && e.type === `payment.${status}`)?.data.payment.failure_code).toBe(code);
}

describe.each(['allow', 'refuse'] as const)('pre-dial risk check, risk.hook.onFailure = %s', (onFailure) => {
  let rw: RiskWorld;
  let w: TestWorld;
  let hook: HookServer;
  beforeAll(async () => {
    rw = await riskWorld(onFailure);
    ({ w, hook } = rw);
  });
  afterAll(() => rw?.close());

  it('asks the hook with a signed request about the enrolled number, then dials on allow', async () => {
    hook.behave({ kind: 'answer', body: { sim_swapped_within_hours: 49, ported: false, forwarded: 'none' } });
    const asked = hook.received.length;
    w.engine.script.push({ kind: 'approved' });
    const p = await pay(w, 'alice');
    expect(await finalOf(w, p.id)).toMatchObject({ status: 'succeeded' });
    expect(hook.received).toHaveLength(asked + 1);
    const got = hook.received.at(-1)!;
    expect(verifySignature(String(got.headers['callpay-signature']), got.raw, SECRET)).toBe(true);
    const body = riskCheckRequest.parse(JSON.parse(got.raw));
    expect(body.data).toMatchObject({ phone_number: '+886912345678', payment_id: p.id, merchant_id: w.merchantId, amount: 15000, currency: 'TWD', live: false });
  });

  it('refuses without dialling: forwarded number (rule) and the hook\'s own decision', async () => {
    const before = await riskMetric(w, 'refuse');
    for (const body of [{ ...allowAnswer, forwarded: 'unconditional' }, { ...allowAnswer, decision: 'refuse' }]) {
      hook.behave({ kind: 'answer', body });
      const dials = w.engine.requests.length;
      const p = await pay(w, 'alice');
      await endedUndialled(w, p, dials, 'declined', 'risk_refused');
      expect((await transitions(w, p.id)).at(-1)?.reason).toMatch(/^pre-dial risk check: refuse \((forwarded|hook_decision)\)$/);
    }
    expect(await riskMetric(w, 'refuse')).toBe(before + 2);
  });

  it('require_password: a consumer whose settings skip the password is sent back to it, then called', async () => {
    hook.behave({ kind: 'answer', body: { ...allowAnswer, sim_swapped_within_hours: 12 } });
    const asked = hook.received.length;
    const dials = w.engine.requests.length;
    const p = await pay(w, 'dora');
    await waitFor('the payment back at the password step', async () => (await w.daemon.store.payments.get(p.id)).status === 'requires_password', { timeoutMs: 10_000 });
    expect(w.engine.requests, 'no call before the password').toHaveLength(dials);
    const b = new Client(w.daemon.url);
    expect(stepOf((await b.get(p.path)).text)).toBe('password');
    w.engine.script.push({ kind: 'approved' });
    expect((await enterPassword(b, p, PASSWORD)).status).toBe(303);
    expect(await finalOf(w, p.id)).toMatchObject({ status: 'succeeded' });
    // Asked again right before the dial; the password now passed, the same answer lets the call go.
    expect(hook.received).toHaveLength(asked + 2);
    expect(w.engine.requests).toHaveLength(dials + 1);
    // (calling → calling: the PIN approval, recorded before the charge.)
    expect((await transitions(w, p.id)).map((t) => t.to)).toEqual(['requires_consumer', 'calling', 'requires_password', 'calling', 'calling', 'succeeded']);
    expect((await transitions(w, p.id))[2]?.reason).toBe('pre-dial risk check: require_password (sim_swap); password step required before the call');
  });

  it('require_password: dials at once when the password step already passed; refuses a consumer with no password', async () => {
    hook.behave({ kind: 'answer', body: { ...allowAnswer, decision: 'require_password' } });
    const p = await pay(w, 'carol');
    expect((await w.daemon.store.payments.get(p.id)).status).toBe('requires_password');
    const asked = hook.received.length;
    w.engine.script.push({ kind: 'approved' });
    expect((await enterPassword(new Client(w.daemon.url), p, PASSWORD)).status).toBe(303);
    expect(await finalOf(w, p.id)).toMatchObject({ status: 'succeeded' });
    expect(hook.received).toHaveLength(asked + 1);

    const dials = w.engine.requests.length;
    const q = await pay(w, 'alice');
    await endedUndialled(w, q, dials, 'declined', 'risk_refused');
    expect((await transitions(w, q.id)).at(-1)?.reason).toContain('the consumer has no password');
  });

  it(`a hook that is slow, down, erroring or malformed: ${onFailure === 'allow' ? 'the call goes ahead (fail open)' : 'no call, risk_check_failed (fail closed)'}`, async () => {
    const cases = [
      { behaviour: SLOW, result: 'timeout' },
      { behaviour: { kind: 'reset' }, result: 'unreachable' },
      { behaviour: { kind: 'answer', status: 503, body: allowAnswer }, result: 'http_error' },
      { behaviour: { kind: 'raw', text: '{"ported": tru' }, result: 'malformed' },
      { behaviour: { kind: 'answer', body: { decision: 'allow' } }, result: 'malformed' },
    ] as const;
    for (const c of cases) {
      hook.behave(c.behaviour);
      const before = await riskMetric(w, c.result);
      const dials = w.engine.requests.length;
      const started = Date.now();
      if (onFailure === 'allow') w.engine.script.push({ kind: 'approved' });
      const p = await pay(w, 'alice');
      if (onFailure === 'allow') {
        expect(await finalOf(w, p.id), c.result).toMatchObject({ status: 'succeeded' });
        expect(w.engine.requests).toHaveLength(dials + 1);
      } else {
        await endedUndialled(w, p, dials, 'failed', 'risk_check_failed');
        expect((await transitions(w, p.id)).at(-1)?.reason).toContain(`pre-dial risk check failed (${c.result}`);
      }
      // The slow hook holds the payment no longer than the timeout (the hook would answer after 5 s).
      if (c.result === 'timeout') expect(Date.now() - started).toBeLessThan(4_000);
      await eventually(async () => expect(await riskMetric(w, c.result)).toBe(before + 1));
    }
  });
});
