import { optionalSecretSetting } from './secret-setting.js';
import { isAbsolute, join, relative } from 'node:path';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { CallpayError } from '../domain/errors.js';
import { SHIPPED_PROMPTS_DIR } from '../ivr/prompts.js';
import { createFreeswitchEngine, type FreeswitchEngine } from '../telephony/freeswitch/engine.js';

/** The password from the config (or CALLPAY_TELEPHONY_FREESWITCH_PASSWORD) or else its file; never logged. */
export function eventSocketPassword(c: Config['telephony']['freeswitch']): string {
  const password = optionalSecretSetting(c.password, c.passwordFile, 'telephony.freeswitch.password');
  if (password === null) {
    throw new CallpayError('config_invalid', 'telephony.freeswitch.password: null, expected the event socket password or a passwordFile', 'telephony.freeswitch.password');
  }
  return password;
}

/** Local clip path → the path FreeSWITCH reads: under promptDir, relative to callpay's prompt root. */
export function promptPathMapper(localRoot: string, remoteRoot: string | null): (local: string) => string {
  if (remoteRoot === null) return (p) => p;
  return (p) => {
    const rel = relative(localRoot, p);
    if (rel.startsWith('..') || isAbsolute(rel)) return p;
    return join(remoteRoot, rel);
  };
}

export function createFreeswitchEngineFromConfig(config: Config, log: Logger): Promise<FreeswitchEngine> {
  const c = config.telephony.freeswitch;
  return createFreeswitchEngine({
    host: c.host,
    port: c.port,
    password: eventSocketPassword(c),
    dialString: c.dialString,
    callerIdNumber: c.callerIdNumber,
    ignoreEarlyMedia: c.ignoreEarlyMedia,
    ringTimeoutMs: c.ringTimeoutMs,
    promptPath: promptPathMapper(config.ivr.promptsDir ?? SHIPPED_PROMPTS_DIR, c.promptDir),
    inbandDtmf: c.inbandDtmf,
    parkTimeoutSeconds: c.parkTimeoutSeconds,
    reconnect: { initialMs: c.reconnectInitialMs, maxMs: c.reconnectMaxMs },
    log: log.child({ engine: 'freeswitch' }),
  });
}
