import type { Config } from '../config/schema.js';
import { CallpayError } from '../domain/errors.js';
import type { CallAuthorizer } from './ports.js';
import { createSimulatedAuthorizer } from './simulated.js';

/** The configured call engine behind the payment service's port. */
export function createAuthorizer(config: Config): CallAuthorizer {
  switch (config.telephony.engine) {
    case 'simulated':
      return createSimulatedAuthorizer(config.telephony.simulated.outcome);
    case 'embedded':
      throw new CallpayError(
        'config_invalid',
        'telephony.engine: "embedded" (SIP over UDP) is not part of this build yet; set telephony.engine to "simulated" for a trial without calls',
        'telephony.engine',
      );
  }
}
