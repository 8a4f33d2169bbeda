import type { CallAuthorizer, CallOutcome } from './ports.js';

/**
 * Places no call: answers every authorization with a configured outcome after a short pause.
 * Opt-in only (`telephony.engine = "simulated"`), for trials without a SIP network; payments it
 * touches are marked live = false and say so in the API.
 */
export function createSimulatedAuthorizer(outcome: CallOutcome['kind']): CallAuthorizer {
  return {
    live: false,
    async authorize(req) {
      req.log.warn({ outcome }, 'simulated call: no telephone call placed');
      await new Promise((resolve) => setTimeout(resolve, 50));
      return outcome === 'failed' ? { kind: 'failed', reason: 'simulated failure' } : ({ kind: outcome } as CallOutcome);
    },
    async close() {},
  };
}
