import type { Call, ScreenOptions, ScreenResult } from '../telephony/engine.js';

/** Config `ivr.machineDetection`: the greeting screen's rules, and its off switch. */
export interface MachineDetectionConfig extends ScreenOptions {
  enabled: boolean;
}

/**
 * Before the first word is said: is it a person or a recording? Off, or an engine that cannot listen
 * (FreeSWITCH, test engines), is `unknown`, and the call proceeds as before.
 */
export async function screenGreeting(call: Call, config: MachineDetectionConfig | undefined): Promise<ScreenResult> {
  if (!config?.enabled) return { verdict: 'unknown', reason: 'disabled', elapsedMs: 0, words: 0 };
  if (!call.screen) return { verdict: 'unknown', reason: 'not_supported', elapsedMs: 0, words: 0 };
  const { enabled: _, ...rules } = config;
  const result = await call.screen(rules);
  call.log.info({ ...result }, result.verdict === 'machine' ? 'answering machine: hanging up before anything is said' : 'greeting screened');
  return result;
}
