import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Clock } from '../domain/clock.js';
import { CallpayError } from '../domain/errors.js';
import { LOCALES, type Locale } from '../domain/consumer.js';
import type { CallAuthorizer } from '../payments/ports.js';
import { createSimulatedAuthorizer } from '../payments/simulated.js';
import type { CallEngine } from '../telephony/engine.js';
import { createEmbeddedEngine } from '../telephony/embedded.js';
import { createFreeswitchEngineFromConfig } from './freeswitch.js';
import { createIvrAuthorizer } from '../ivr/authorizer.js';
import { loadPromptSet, PromptError, SHIPPED_PROMPTS_DIR, type PromptSet } from '../ivr/prompts.js';
import { sayAmount } from '../ivr/say/index.js';
import { createAmountPhrases, type AmountPhrases } from '../ivr/amount-phrase.js';
import { dirname, join, resolve } from 'node:path';

export type EngineName = Config['telephony']['engine'];

export interface EngineDeps {
  config: Config;
  log: Logger;
}

/**
 * Call engines by `telephony.engine`. A telephone engine places real calls (the IVR script runs
 * over it); the simulated one answers without a call. Adding an engine is one folder under
 * telephony/, one entry here and its config section.
 */
export type EngineEntry =
  | { places: 'calls'; create(d: EngineDeps): Promise<CallEngine> }
  | { places: 'nothing'; authorizer(d: EngineDeps): CallAuthorizer };

export const ENGINES: Record<EngineName, EngineEntry> = {
  embedded: {
    places: 'calls',
    create: ({ config, log }) => createEmbeddedEngine({ sip: config.telephony.sip, rtp: config.telephony.rtp, log, inbound: config.selfService.enabled }),
  },
  freeswitch: {
    places: 'calls',
    create: ({ config, log }) => createFreeswitchEngineFromConfig(config, log),
  },
  simulated: {
    places: 'nothing',
    authorizer: ({ config }) => createSimulatedAuthorizer(config.telephony.simulated.outcome),
  },
};

/** The configured engine, for an operator's test call; an engine that places no call is refused. */
export async function createCallEngine(d: EngineDeps): Promise<CallEngine> {
  const name = d.config.telephony.engine;
  const entry = ENGINES[name];
  if (entry.places !== 'calls') {
    throw new CallpayError('invalid_state', `telephony.engine: "${name}" places no call; a test call needs a telephone engine`, 'telephony.engine');
  }
  return entry.create(d);
}

/** The configured engine behind the payment service's port: the IVR call script over it. */
export async function createAuthorizer(d: EngineDeps & { clock: Clock; onEngine?: (engine: CallEngine) => void }): Promise<CallAuthorizer> {
  const entry = ENGINES[d.config.telephony.engine];
  if (entry.places === 'nothing') return entry.authorizer(d);
  const prompts = await loadPrompts(d.config);
  const engine = await entry.create(d);
  d.onEngine?.(engine);
  return createCallAuthorizer(d.config, engine, prompts, d.clock, amountPhrasesFor(d));
}

/**
 * Rendered amount phrases (ivr.amountPhrases), cached beside the database like merchants' voices.
 * Embedded engine only: FreeSWITCH reads clips under its own prompt root, which the cache is not in.
 */
function amountPhrasesFor(d: EngineDeps): AmountPhrases | undefined {
  if (!d.config.ivr.amountPhrases || d.config.telephony.engine !== 'embedded') return undefined;
  let told = false;
  return createAmountPhrases({
    cacheDir: join(dirname(resolve(d.config.database)), 'amount-phrases'),
    onFallback: (reason) => {
      if (!told) d.log.warn({ reason }, 'amount phrases: falling back to clip by clip');
      told = true;
    },
  });
}

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
export function createCallAuthorizer(config: Config, engine: CallEngine, prompts: (locale: Locale) => PromptSet, now: Clock, amountPhrases?: AmountPhrases): CallAuthorizer {
  const ivr = config.ivr;
  return createIvrAuthorizer({
    engine,
    prompts,
    sayAmount,
    ...(amountPhrases ? { amountPhrases } : {}),
    pinTries: ivr.pinTries,
    firstDigitTimeoutMs: ivr.firstDigitTimeoutMs,
    interDigitTimeoutMs: ivr.interDigitTimeoutMs,
    retryAttempts: ivr.retryAttempts,
    retryDelayMs: ivr.retryDelayMs,
    machineDetection: ivr.machineDetection,
    forwarding: config.risk.sipForwarding,
    now,
  });
}
