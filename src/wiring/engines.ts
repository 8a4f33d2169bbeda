import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { CallpayError } from '../domain/errors.js';
import { LOCALES, type Locale } from '../domain/consumer.js';
import type { CallAuthorizer } from './ports.js';
import { createSimulatedAuthorizer } from './simulated.js';
import { createEmbeddedEngine } from '../telephony/embedded.js';
import { createIvrAuthorizer } from '../ivr/authorizer.js';
import { loadPromptSet, PromptError, SHIPPED_PROMPTS_DIR, type PromptSet } from '../ivr/prompts.js';
import { sayAmount } from '../ivr/say/index.js';
import type { CallEngine } from '../telephony/engine.js';

/** Loads and checks every locale's prompt set at start-up: a missing clip stops the daemon, not a call. */
export async function loadPrompts(config: Config): Promise<(locale: Locale) => PromptSet> {
  const dir = config.ivr.promptsDir ?? SHIPPED_PROMPTS_DIR;
  const sets = new Map<Locale, PromptSet>();
  for (const locale of LOCALES) {
    try {
      sets.set(locale, await loadPromptSet(dir, locale));
    } catch (e) {
      if (e instanceof PromptError) throw new CallpayError('config_invalid', `ivr.promptsDir: ${e.message}`, 'ivr.promptsDir');
      throw e;
    }
  }
  return (locale) => sets.get(locale) ?? (sets.get('en-US') as PromptSet);
}

/** The IVR call over a telephone engine: the product's real authorizer. */
export async function createCallAuthorizer(config: Config, engine: CallEngine, now: () => Date): Promise<CallAuthorizer> {
  const ivr = config.ivr;
  return createIvrAuthorizer({
    engine,
    prompts: await loadPrompts(config),
    sayAmount,
    pinTries: ivr.pinTries,
    firstDigitTimeoutMs: ivr.firstDigitTimeoutMs,
    interDigitTimeoutMs: ivr.interDigitTimeoutMs,
    retryAttempts: ivr.retryAttempts,
    retryDelayMs: ivr.retryDelayMs,
    now,
  });
}

/** The configured call engine behind the payment service's port. */
export async function createAuthorizer(config: Config, log: Logger, now: () => Date): Promise<CallAuthorizer> {
  switch (config.telephony.engine) {
    case 'simulated':
      return createSimulatedAuthorizer(config.telephony.simulated.outcome);
    case 'embedded': {
      const engine = await createEmbeddedEngine({ sip: config.telephony.sip, rtp: config.telephony.rtp, log });
      return createCallAuthorizer(config, engine, now);
    }
  }
}
