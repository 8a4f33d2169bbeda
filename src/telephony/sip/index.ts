/** The signalling half of the embedded engine; see ua.ts for how the pieces fit. */
export { createSipUserAgent, parseHostPort, type SipUserAgent, type SipUserAgentOptions } from './ua.js';
export { outcomeForStatus, type InviteRequest, type InviteResult, type Media } from './invite.js';
export type { Dialog, EndedBy, SessionMedia } from './dialog.js';
export { buildOffer, parseAnswer, type Codec, type Direction, type OfferOptions, type SdpAnswer } from './sdp.js';
export { DEFAULT_TIMERS, type Timers } from './transactions.js';
export type { DigestCredentials } from './digest.js';
export type { HostPort } from './headers.js';
export { formatHostPort, maskUri } from './headers.js';
