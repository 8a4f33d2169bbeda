import type { Config } from '../config/schema.js';
import type { Clock } from '../domain/clock.js';
import { LOCALES } from '../domain/consumer.js';
import { CallpayError } from '../domain/errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../payments/repositories.js';
import { SelfServiceDesk, type ConsumerChangeNotifier } from '../payments/self-service.js';
import type { SecretVerifier } from '../payments/service.js';
import { selfServiceClips } from '../ivr/self/clips.js';
import { runSelfService } from '../ivr/self/menu.js';
import { sayAmount } from '../ivr/say/index.js';
import type { CallEngine, IncomingCall } from '../telephony/engine.js';
import { loadPrompts } from './engines.js';
import { createConsumerChangeHook } from '../notify/consumer-hook.js';
import { readSecretsFile } from '../notify/secrets-file.js';

export interface SelfServiceWiring {
  config: Config;
  engine: CallEngine;
  store: Store;
  hasher: SecretVerifier;
  clock: Clock;
  log: Logger;
  notifier?: ConsumerChangeNotifier;
}

/** What the daemon stops once no call can change anything any more. */
export interface SelfService {
  /**
   * Gives change notifications waiting to retry one last try, then abandons what is still not
   * delivered, each logged at warn (the audit log keeps the changes). Bounded by the hook's timeout.
   */
  stop(): Promise<void>;
}

/**
 * Consumer self-service by calling in (config `selfService`): the engine's inbound calls go to the
 * menu (ivr/self/), its rules to the desk (payments/self-service.ts). Checked at start-up: an engine
 * that cannot answer, or a prompt set without the menu's clips, stops the daemon rather than a call.
 */
export async function attachSelfService(d: SelfServiceWiring): Promise<SelfService> {
  const { config, engine, log } = d;
  if (!engine.onIncomingCall) {
    throw new CallpayError('config_invalid', `selfService.enabled: the ${config.telephony.engine} engine cannot answer calls; self-service needs telephony.engine "embedded"`, 'selfService.enabled');
  }
  const prompts = await loadPrompts(config);
  for (const locale of LOCALES) {
    const missing = selfServiceClips(locale).filter((name) => !prompts(locale).has(name));
    if (missing.length > 0) {
      throw new CallpayError('config_invalid', `ivr.promptsDir: the ${locale} prompt set lacks the self-service clips ${missing.join(', ')} (scripts/make-prompts.mjs makes them)`, 'ivr.promptsDir');
    }
  }
  const told = d.notifier ? { notifier: d.notifier, stop: async () => undefined } : configuredNotifier(config.selfService.notifyHook, d.clock, log);
  const desk = new SelfServiceDesk({
    store: d.store, hasher: d.hasher, clock: d.clock, log,
    lockout: { attempts: config.ivr.lockoutAttempts, windowMs: config.ivr.lockoutWindowHours * 3_600_000 },
    notifier: told.notifier,
  });
  const options = {
    desk, prompts, sayAmount,
    defaultLocale: config.locale,
    currency: config.currency,
    timeZone: config.billing.timeZone,
    pinTries: config.ivr.pinTries,
    recentPayments: config.selfService.recentPayments,
    firstDigitTimeoutMs: config.ivr.firstDigitTimeoutMs,
    interDigitTimeoutMs: config.ivr.interDigitTimeoutMs,
  };
  let active = 0;
  const serve = async (incoming: IncomingCall) => {
    const callLog = log.child({ callId: incoming.id, selfService: true });
    const call = await incoming.answer(callLog);
    if (!call) return;
    const end = await runSelfService(call, incoming.caller, options);
    callLog.info({ end }, 'self-service call ended');
  };
  engine.onIncomingCall((incoming) => {
    // Not from the trunk: refused before any answer, so a stranger cannot make callpay send audio to
    // an address of their choosing (the SDP's). It says nothing of the number, which is not looked at.
    if (!incoming.caller.trustedSource) {
      log.info({ callId: incoming.id }, 'self-service call from an untrusted source refused (403)');
      return incoming.reject('forbidden');
    }
    if (active >= config.selfService.maxConcurrentCalls) return incoming.reject('busy');
    active += 1;
    serve(incoming)
      .catch((err: unknown) => log.error({ err, callId: incoming.id }, 'self-service call failed'))
      .finally(() => (active -= 1));
  });
  log.info({ maxConcurrentCalls: config.selfService.maxConcurrentCalls, notifyHook: config.selfService.notifyHook.url !== null }, 'self-service calls answered');
  return { stop: told.stop };
}

/**
 * The log line always; with `selfService.notifyHook.url`, also the signed POST to the carrier's
 * hook. Its secrets are read here, at start-up, so a bad file stops the daemon naming the key.
 */
export function configuredNotifier(hook: Config['selfService']['notifyHook'], clock: Clock, log: Logger): { notifier: ConsumerChangeNotifier; stop(): Promise<void> } {
  const logged = loggingNotifier(log);
  if (hook.url === null || hook.secretFile === null) return { notifier: logged, stop: async () => undefined };
  const sent = createConsumerChangeHook({
    url: hook.url,
    secrets: readSecretsFile(hook.secretFile, 'selfService.notifyHook.secretFile'),
    timeoutMs: hook.timeoutMs,
    clock,
    log: log.child({ notifyHook: 'consumer' }),
  });
  return {
    notifier: {
      consumerChanged(e) {
        logged.consumerChanged(e);
        sent.consumerChanged(e);
      },
    },
    stop: () => sent.stop(),
  };
}

/**
 * Changes consumers make by phone, told to the operator's log (ids and field names only). callpay's
 * webhooks are merchants' (every event belongs to a merchant); the consumer is told through the
 * carrier's own systems (selfService.notifyHook), and the audit log holds the durable record.
 */
export function loggingNotifier(log: Logger): ConsumerChangeNotifier {
  return {
    consumerChanged(e) {
      log.info({ consumerId: e.consumerId, change: e.change, via: e.via, at: e.at }, 'consumer changed their settings by phone');
    },
  };
}
