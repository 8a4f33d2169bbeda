import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CallpayError } from '../src/domain/errors.js';
import { loadConfig } from '../src/config/load.js';
import { fillDialString, isSafeDialTemplate, originateCommand, outcomeOfCause, playbackArg } from '../src/telephony/freeswitch/originate.js';
import { promptPathMapper } from '../src/wiring/freeswitch.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'callpay-fs-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const load = (env: NodeJS.ProcessEnv, configPath?: string) => loadConfig({ cwd: dir, env, ...(configPath ? { configPath } : {}) });

describe('telephony.freeswitch configuration', () => {
  it('accepts engine "freeswitch" with the shipped defaults', () => {
    const c = load({ CALLPAY_TELEPHONY_ENGINE: 'freeswitch' });
    expect(c.telephony.engine).toBe('freeswitch');
    expect(c.telephony.freeswitch).toMatchObject({ host: '127.0.0.1', port: 8021, password: null, dialString: 'sofia/gateway/carrier/{e164}', promptDir: null });
  });

  it('keeps an all-digit password from the environment as text, leading zeros included', () => {
    const c = load({ CALLPAY_TELEPHONY_FREESWITCH_PASSWORD: '0071', CALLPAY_TELEPHONY_SIP_PASSWORD: '0042', CALLPAY_TELEPHONY_SIP_USERNAME: '1001' });
    expect(c.telephony.freeswitch.password).toBe('0071');
    expect(c.telephony.sip.password).toBe('0042');
    expect(c.telephony.sip.username).toBe('1001');
  });

  it('refuses a dial string template that could inject variables or a second destination', () => {
    for (const bad of ['sofia/gateway/carrier/{e164},user/1000', '{x=y}sofia/gateway/carrier/{e164}', 'sofia/gateway/carrier/{e164}|user/1', 'sofia/gateway/carrier', 'sofia/gateway/c arrier/{e164}']) {
      let caught: unknown;
      try {
        load({ CALLPAY_TELEPHONY_FREESWITCH_DIAL_STRING: bad });
      } catch (e) {
        caught = e;
      }
      expect(caught, bad).toBeInstanceOf(CallpayError);
      expect((caught as CallpayError).field).toBe('telephony.freeswitch.dialString');
    }
    expect(isSafeDialTemplate('sofia/gateway/carrier/{e164}')).toBe(true);
    expect(isSafeDialTemplate('sofia/internal/{number}@10.0.0.1:5060')).toBe(true);
  });

  it('resolves passwordFile against the config file that sets it', () => {
    const file = join(dir, 'callpay.json');
    writeFileSync(file, JSON.stringify({ telephony: { freeswitch: { passwordFile: 'secrets/esl' } } }));
    expect(load({}, file).telephony.freeswitch.passwordFile).toBe(join(dir, 'secrets/esl'));
  });
});

describe('originate pieces', () => {
  it('fills only a strict E.164 number into the template', () => {
    expect(fillDialString('sofia/gateway/carrier/{e164}', '+886912345678')).toEqual({ ok: true, dialString: 'sofia/gateway/carrier/+886912345678' });
    expect(fillDialString('sofia/gateway/carrier/{number}', '+886912345678')).toEqual({ ok: true, dialString: 'sofia/gateway/carrier/886912345678' });
    for (const n of ['+8869,1', '+1{a=b}', '+1[a=b]', '+1|2', '+1 2', '+1^^:x', '+0123', '', '+']) expect(fillDialString('sofia/gateway/carrier/{e164}', n).ok, n).toBe(false);
  });

  it('maps causes to outcomes as the issue lists them', () => {
    expect(outcomeOfCause('USER_BUSY')).toBe('busy');
    for (const c of ['NO_ANSWER', 'NO_USER_RESPONSE', 'ORIGINATOR_CANCEL', 'ALLOTTED_TIMEOUT']) expect(outcomeOfCause(c)).toBe('no_answer');
    for (const c of ['CALL_REJECTED', 'USER_NOT_REGISTERED', 'UNALLOCATED_NUMBER', 'NUMBER_CHANGED']) expect(outcomeOfCause(c)).toBe('rejected');
    expect(outcomeOfCause('NORMAL_TEMPORARY_FAILURE')).toBe('failed');
  });

  it('builds the originate and playback arguments', () => {
    expect(originateCommand({ uuid: 'U', ignoreEarlyMedia: false, ringTimeoutMs: 45_001, callerIdNumber: 'callpay', parkTimeoutSeconds: 300 }, 'sofia/gateway/carrier/+1555'))
      .toBe('originate {origination_uuid=U,ignore_early_media=false,originate_timeout=46,origination_caller_id_number=callpay,park_timeout=300,hangup_after_bridge=true}sofia/gateway/carrier/+1555 &park()');
    expect(playbackArg(['/a.wav'])).toBe('/a.wav');
    expect(playbackArg(['/a.wav', '/b.wav'])).toBe('file_string:///a.wav!/b.wav');
  });

  it('maps prompt paths under promptDir, or keeps them', () => {
    expect(promptPathMapper('/opt/callpay/prompts', null)('/opt/callpay/prompts/en-US/ivr/a.wav')).toBe('/opt/callpay/prompts/en-US/ivr/a.wav');
    expect(promptPathMapper('/opt/callpay/prompts', '/usr/share/freeswitch/sounds/callpay')('/opt/callpay/prompts/en-US/ivr/a.wav')).toBe('/usr/share/freeswitch/sounds/callpay/en-US/ivr/a.wav');
  });
});
