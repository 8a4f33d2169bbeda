import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CallpayError } from '../src/domain/errors.js';
import { loadConfig } from '../src/config/load.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'callpay-amd-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const load = (env: NodeJS.ProcessEnv = {}) => loadConfig({ cwd: dir, env });

function invalidField(env: NodeJS.ProcessEnv): string | undefined {
  try {
    load(env);
  } catch (e) {
    expect(e).toBeInstanceOf(CallpayError);
    expect((e as CallpayError).code).toBe('config_invalid');
    return (e as CallpayError).field;
  }
  return undefined;
}

describe('ivr.machineDetection (the voicemail guard) in the configuration', () => {
  it('ships off, with app_amd-like rules', () => {
    expect(load().ivr.machineDetection).toEqual({
      enabled: false, initialSilenceMs: 2000, maxGreetingMs: 2000, afterGreetingSilenceMs: 800, totalAnalysisMs: 3500, minWordMs: 100, maxWords: 4,
    });
  });

  it('is set from the environment', () => {
    const c = load({ CALLPAY_IVR_MACHINE_DETECTION_ENABLED: 'true', CALLPAY_IVR_MACHINE_DETECTION_MAX_GREETING_MS: '2500', CALLPAY_IVR_MACHINE_DETECTION_MAX_WORDS: '6' });
    expect(c.ivr.machineDetection).toMatchObject({ enabled: true, maxGreetingMs: 2500, maxWords: 6 });
  });

  it.each([
    [{ CALLPAY_IVR_MACHINE_DETECTION_MAX_GREETING_MS: '4000' }, 'ivr.machineDetection.maxGreetingMs'],
    [{ CALLPAY_IVR_MACHINE_DETECTION_INITIAL_SILENCE_MS: '3500' }, 'ivr.machineDetection.initialSilenceMs'],
    [{ CALLPAY_IVR_MACHINE_DETECTION_MAX_WORDS: '0' }, 'ivr.machineDetection.maxWords'],
    [{ CALLPAY_IVR_MACHINE_DETECTION_ENABLED: 'maybe' }, 'ivr.machineDetection.enabled'],
  ])('refuses %o naming %s', (env, field) => {
    expect(invalidField(env)).toBe(field);
  });
});
