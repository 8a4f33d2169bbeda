import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { CallpayError } from '../src/domain/errors.js';
import { createLogger } from '../src/log.js';
import type { Consumer } from '../src/domain/consumer.js';
import type { Call, CallRecord, CollectResult } from '../src/telephony/engine.js';
import { runSelfService, type SelfServiceOptions, type SelfServicePort } from '../src/ivr/self/menu.js';
import { SELF, sayDate } from '../src/ivr/self/clips.js';
import { PHRASES, sayAmount } from '../src/ivr/say/index.js';
import { SelfServiceDesk, type InboundCaller } from '../src/payments/self-service.js';
import { enrolPrepaid, finalOf, startWorld, type TestWorld } from './helpers/daemon.js';
import { usePgWorlds, WORLD_STORES } from './helpers/pg-world.js';

usePgWorlds();

/**
 * The self-service menu over a fake Call (what is said, what is asked, in which order), and the desk's
 * rules on a real store (PIN change audited, thresholds only lowered, unlock only a self-lock, wrong
 * PINs counted with the authorization call's).
 */

const log = createLogger({ level: 'silent' });
const RECORD: CallRecord = { callId: 'c1', startedAt: '', answeredAt: '', endedAt: null, outcome: 'answered', sipStatus: 200, reason: null, digitCount: 0 };

/** A Call whose caller keys `entries` in order (null = says nothing); then hangs up. Clips are heard by name. */
function fakeCall(entries: Array<string | null>): Call & { heard: string[]; hungUpByUs: boolean } {
  let over = false;
  const call = {
    id: 'c1', log, heard: [] as string[], hungUpByUs: false,
    async play(clips: readonly string[]) {
      if (over) return { kind: 'hung_up' as const };
      call.heard.push(...clips);
      return { kind: 'completed' as const };
    },
    async collect(): Promise<CollectResult> {
      if (entries.length === 0) {
        over = true;
        return { kind: 'hung_up' };
      }
      const e = entries.shift()!;
      return e === null ? { kind: 'no_input' } : { kind: 'digits', digits: e, reason: 'terminator', terminator: '#' };
    },
    async hangup() {
      over = true;
      call.hungUpByUs = true;
    },
    ended: Promise.resolve(RECORD),
    record: () => RECORD,
  };
  return call;
}

const consumer: Consumer = {
  id: 'cons_1', login: 'alice', phone: '+886912345678', nationalId: 'A123456789', address: 'x', locale: 'en-US', status: 'active',
  policy: { passwordAbove: 0, callAbove: 50000, frictionlessAmount: 100000, frictionlessCount: 3 }, hasPassword: false, createdAt: '', updatedAt: '',
};

function fakeDesk(over: Partial<SelfServicePort> = {}): SelfServicePort & { calls: string[] } {
  const calls: string[] = [];
  const desk: SelfServicePort & { calls: string[] } = {
    calls,
    identify: async (c: InboundCaller) => (c.trustedSource && (c.asserted ?? c.from) === '+886912345678' ? consumer : null),
    selfLocked: async () => false,
    checkPin: async (_id, pin) => (pin === '482916' ? 'ok' : 'wrong'),
    recentPayments: async () => [{ merchantName: 'Stall', merchantVoiceClip: null, amount: 15000, currency: 'TWD', createdAt: '2026-11-30T04:00:00.000Z' }],
    changePin: async (_id, pin) => {
      calls.push(`changePin ${pin}`);
      return pin === '482916' ? 'same' : 'changed';
    },
    lowerLimit: async (_id, field, amount) => {
      calls.push(`lowerLimit ${field} ${amount}`);
      return amount < consumer.policy[field] ? 'changed' : 'not_lower';
    },
    frictionlessOff: async () => {
      calls.push('frictionlessOff');
      return 'changed';
    },
    lock: async () => {
      calls.push('lock');
      return 'locked';
    },
    unlock: async () => {
      calls.push('unlock');
      return 'unlocked';
    },
    ...over,
  };
  return desk;
}

function options(desk: SelfServicePort): SelfServiceOptions {
  return {
    desk, prompts: () => ({ clip: (name: string) => name }), sayAmount, defaultLocale: 'zh-TW', currency: 'TWD', timeZone: 'Asia/Taipei',
    pinTries: 3, recentPayments: 5, firstDigitTimeoutMs: 1000, interDigitTimeoutMs: 1000,
  };
}

const trunk = (number: string | null, asserted: string | null = null, trustedSource = true): InboundCaller => ({ from: number, asserted, trustedSource });

describe('self-service menu (fake call)', () => {
  it('refuses an unknown or untrusted caller with one short refusal, in the default locale, before any PIN', async () => {
    for (const caller of [trunk('+15550100'), trunk('+15550100', '+886912345678', false), trunk(null)]) {
      const call = fakeCall(['482916']);
      expect(await runSelfService(call, caller, options(fakeDesk()))).toBe('refused');
      expect(call.heard).toEqual([SELF.unavailable]);
      expect(call.hungUpByUs).toBe(true);
    }
  });

  it('changes the PIN: asked twice, must match and differ from the old one', async () => {
    const desk = fakeDesk();
    const call = fakeCall(['482916', '2', '135790', '135791', '2', '482916', '482916', '2', '135790', '135790', '9']);
    expect(await runSelfService(call, trunk('+15550100', '+886912345678'), options(desk))).toBe('finished');
    expect(desk.calls).toEqual(['changePin 482916', 'changePin 135790']);
    const outcomes = call.heard.filter((c) => [SELF.pinMismatch, SELF.pinSame, SELF.pinChanged].includes(c as never));
    expect(outcomes).toEqual([SELF.pinMismatch, SELF.pinSame, SELF.pinChanged]);
    expect(call.heard.at(-1)).toBe(PHRASES.goodbye);
  });

  it('refuses a PIN of the wrong length without asking the desk', async () => {
    const desk = fakeDesk();
    const call = fakeCall(['482916', '2', '12', '12', '9']);
    await runSelfService(call, trunk('+886912345678'), options(desk));
    expect(desk.calls).toEqual([]);
    expect(call.heard).toContain(SELF.pinInvalid);
  });

  it('ends after the allowed wrong PINs; a lockout ends at once with the refusal', async () => {
    const call = fakeCall(['1111', '2222', '3333', '482916']);
    expect(await runSelfService(call, trunk('+886912345678'), options(fakeDesk()))).toBe('wrong_pin');
    expect(call.heard.filter((c) => c === PHRASES.wrongPin)).toHaveLength(3);
    expect(call.heard).not.toContain(SELF.menu);

    const locked = fakeCall(['1111', '482916']);
    expect(await runSelfService(locked, trunk('+886912345678'), options(fakeDesk({ checkPin: async () => 'locked' })))).toBe('locked');
    expect(locked.heard.at(-1)).toBe(SELF.unavailable);
  });

  it('reads recent payments: merchant, amount, date', async () => {
    const call = fakeCall(['482916', '1', '9']);
    await runSelfService(call, trunk('+886912345678'), options(fakeDesk()));
    const amount = sayAmount(15000, 'TWD', 'en-US');
    const date = sayDate('2026-11-30T04:00:00.000Z', 'en-US', 'Asia/Taipei');
    expect(date).toEqual([SELF.on, 'self/month-11', 'digits/30']);
    const i = call.heard.indexOf(PHRASES.aMerchant);
    expect(call.heard.slice(i, i + 1 + amount.length + date.length)).toEqual([PHRASES.aMerchant, ...amount, ...date]);
  });

  it('lowers thresholds only, turns the frictionless allowance off, locks and unlocks', async () => {
    const desk = fakeDesk();
    const call = fakeCall(['482916', '3', '1', '100', '3', '1', '900', '3', '3', '4', '1', '9']);
    await runSelfService(call, trunk('+886912345678'), options(desk));
    // whole New Taiwan dollars, stored in cents: 100 → 10000 (lower than 50000), 900 → 90000 (not lower)
    expect(desk.calls).toEqual(['lowerLimit callAbove 10000', 'lowerLimit callAbove 90000', 'frictionlessOff', 'lock']);
    expect(call.heard.filter((c) => [SELF.limitChanged, SELF.notLower, SELF.frictionlessOff, SELF.locked].includes(c as never)))
      .toEqual([SELF.limitChanged, SELF.notLower, SELF.frictionlessOff, SELF.locked]);

    const unlocking = fakeDesk({ selfLocked: async () => true });
    const again = fakeCall(['482916', '4', '1', '9']);
    await runSelfService(again, trunk('+886912345678'), options(unlocking));
    expect(unlocking.calls).toEqual(['unlock']);
    expect(again.heard).toContain(SELF.unlockOffer);
  });

  it('hangs up after the menu gets no answer twice', async () => {
    const call = fakeCall(['482916', null, null]);
    expect(await runSelfService(call, trunk('+886912345678'), options(fakeDesk()))).toBe('no_input');
    expect(call.heard.filter((c) => c === SELF.menu)).toHaveLength(2);
  });
});

describe.each(WORLD_STORES)('self-service desk (real store: %s)', { timeout: 60_000 }, (store) => {
  let w: TestWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  async function desk(t: TestWorld, attempts = 5): Promise<{ desk: SelfServiceDesk; changes: string[]; id: string }> {
    await enrolPrepaid(t, 'alice', '1000');
    const id = (await t.ctx.store.consumers.findByLogin('alice'))!.id;
    const changes: string[] = [];
    const d = new SelfServiceDesk({
      store: t.ctx.store, hasher: t.ctx.hasher, clock: t.ctx.clock, log,
      lockout: { attempts, windowMs: 3_600_000 },
      notifier: { consumerChanged: (e) => changes.push(e.change.kind) },
    });
    return { desk: d, changes, id };
  }

  const actions = async (t: TestWorld) => (await t.ctx.store.audit.list({ limit: 100 })).map((e) => `${e.actor} ${e.action}`);

  it('identifies by the trunk-asserted number only, reads payments, changes the PIN (audited, notified), lowers only', async () => {
    w = await startWorld({}, { store });
    const { desk: d, changes, id } = await desk(w);
    expect((await d.identify(trunk('+15550100', '+886912345678')))?.id).toBe(id);
    expect((await d.identify(trunk('886912345678')))?.id).toBe(id);
    expect(await d.identify(trunk('+886912345678', null, false))).toBeNull();
    expect(await d.identify(trunk('+15550100'))).toBeNull();

    expect(await d.recentPayments(id, 5)).toEqual([]);
    w.engine.script.push({ kind: 'approved' });
    const paid = await w.api('POST', '/v1/payments', {
      idem: 'desk-1', body: { amount: 15000, currency: 'TWD', reference: 'r', description: 'd', return_url: 'https://shop.example/', login_account: 'alice' },
    });
    expect(await finalOf(w, paid.body.id)).toMatchObject({ status: 'succeeded' });
    expect(await d.recentPayments(id, 5)).toEqual([
      { merchantName: 'Night Market Stall 12', merchantVoiceClip: expect.stringMatching(/\.wav$/), amount: 15000, currency: 'TWD', createdAt: expect.any(String) },
    ]);

    expect(await d.changePin(id, '482916')).toBe('same');
    expect(await d.changePin(id, '135790')).toBe('changed');
    expect(await d.checkPin(id, '135790')).toBe('ok');
    expect(await d.checkPin(id, '482916')).toBe('wrong');

    await w.ctx.store.consumers.setPolicy(id, { passwordAbove: 0, callAbove: 50000, frictionlessAmount: 1000, frictionlessCount: 2 });
    expect(await d.lowerLimit(id, 'callAbove', 60000)).toBe('not_lower');
    expect(await d.lowerLimit(id, 'callAbove', 20000)).toBe('changed');
    expect(await d.frictionlessOff(id)).toBe('changed');
    expect(await d.frictionlessOff(id)).toBe('already_off');
    expect((await w.ctx.store.consumers.get(id)).policy).toEqual({ passwordAbove: 0, callAbove: 20000, frictionlessAmount: null, frictionlessCount: null });
    expect(changes).toEqual(['pin', 'policy', 'policy']);
    expect((await actions(w)).filter((a) => a.startsWith('self-service'))).toEqual([
      'self-service consumer.self_set_pin', 'self-service consumer.self_policy', 'self-service consumer.self_policy',
    ]);
  });

  it('unlocks only its own lock; wrong PINs lock like the call, ending a self-lock', async () => {
    w = await startWorld({}, { store });
    const { desk: d, id } = await desk(w, 3);
    expect(await d.lock(id)).toBe('locked');
    expect((await d.identify(trunk('+886912345678')))?.id).toBe(id); // self-locked: may call in to unlock
    expect(await d.unlock(id)).toBe('unlocked');

    // an operator's lock: refused at the door, not unlockable by phone
    await w.cli(['consumer', 'lock', 'alice']);
    expect(await d.identify(trunk('+886912345678'))).toBeNull();
    expect(await d.unlock(id)).toBe('not_self_locked');
    await w.cli(['consumer', 'unlock', 'alice']);

    // the PIN lockout: shared count (pin_failures, no payment), and it overrides a self-lock
    expect(await d.lock(id)).toBe('locked');
    expect(await d.checkPin(id, '1111')).toBe('wrong');
    expect(await d.checkPin(id, '2222')).toBe('wrong');
    expect(await d.checkPin(id, '3333')).toBe('locked');
    expect(await w.query('SELECT count(*) AS n FROM pin_failures WHERE payment_id IS NULL')).toEqual([{ n: 3 }]);
    expect(await d.selfLocked(id)).toBe(false);
    expect(await d.identify(trunk('+886912345678'))).toBeNull();
  });
});

describe('self-service configuration', () => {
  it('is off by default, and refuses to be enabled with an engine other than the embedded one, naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'callpay-self-config-'));
    try {
      expect(loadConfig({ cwd: dir, env: {} }).selfService).toEqual({ enabled: false, recentPayments: 5, maxConcurrentCalls: 20, notifyHook: { url: null, secretFile: null, timeoutMs: 2000 } });
      expect(loadConfig({ cwd: dir, env: { CALLPAY_SELF_SERVICE_ENABLED: 'true' } }).selfService.enabled).toBe(true);
      for (const engine of ['freeswitch', 'simulated']) {
        let error: unknown;
        try {
          loadConfig({ cwd: dir, env: { CALLPAY_SELF_SERVICE_ENABLED: 'true', CALLPAY_TELEPHONY_ENGINE: engine } });
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(CallpayError);
        expect(error).toMatchObject({ code: 'config_invalid', field: 'selfService.enabled' });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
