import { randomBytes } from 'node:crypto';
import { formatHostPort, type HostPort, type SipTransportName } from './headers.js';
import type { IncomingRequest } from './message.js';
import type { ServerTransaction, ServerTransactions } from './server-transactions.js';
import type { ClientTransactions, Send, Timers } from './transactions.js';

/** What the INVITE attempt and its dialogs share with the user agent that owns the socket. */
export interface SipCore {
  client: ClientTransactions;
  server: ServerTransactions;
  send: Send;
  /** Our address as written in Via sent-by and Contact (UDP and TCP share the port). */
  local: HostPort;
  /** Our TLS listener's port, for Via and Contact over TLS; null/absent = none (the UDP/TCP port is written). */
  tlsPort?: number | null;
  timers: Timers;
  userAgent: string;
  /** Dialogs the UA routes the phone's requests to, by `dialogKey`. */
  dialogs: Map<string, DialogRoute>;
  /** Extra endpoints every dialog takes requests from: the outbound proxy, `telephony.sip.trustedSources`. */
  trustedSources: readonly HostPort[];
  /** Session-Expires our INVITEs ask for, in seconds (RFC 4028; `telephony.sip.sessionExpiresSeconds`). */
  sessionExpires: number;
}

/** The part of a dialog the UA needs: screen and route the phone's requests to it, end it on close. */
export interface DialogRoute {
  /** False (and logged) when the request comes from a source the dialog does not trust. */
  admits(req: IncomingRequest, source: HostPort): boolean;
  handleRequest(tx: ServerTransaction): void;
  /** An ACK from a trusted source (it may carry the answer to our offer, RFC 3261 §13.2.1). */
  handleAck(req: IncomingRequest): void;
  bye(): Promise<void>;
}

export const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK';

/** Extensions we support (RFC 3262 reliable provisional responses, RFC 4028 session timers). */
export const SUPPORTED = '100rel, timer';

/** Call-ID, local tag, remote tag: identifies a dialog (RFC 3261 §12). */
export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}|${localTag}|${remoteTag}`;
}

export function newTag(): string {
  return randomBytes(8).toString('hex');
}

/** RFC 3261 branch: the magic cookie, then enough randomness to be unique in space and time. */
export function newBranch(): string {
  return `z9hG4bK${randomBytes(10).toString('hex')}`;
}

export function newCallId(): string {
  return randomBytes(16).toString('hex');
}

/** Our sent-by for a transport: the TLS listener's port over TLS. */
export function localFor(core: Pick<SipCore, 'local' | 'tlsPort'>, transport: SipTransportName | undefined): HostPort {
  return transport === 'tls' && core.tlsPort ? { host: core.local.host, port: core.tlsPort } : core.local;
}

/**
 * Our Via for the transport the request goes over, asking for rport (RFC 3581) so responses find us
 * through NAT. Over TCP/TLS `alias` (RFC 5923) lets a proxy send its requests back over our connection
 * rather than open one to our listener.
 */
export function viaHeader(local: HostPort, branch: string, transport: SipTransportName = 'udp'): string {
  return `SIP/2.0/${transport.toUpperCase()} ${formatHostPort(local)};rport${transport === 'udp' ? '' : ';alias'};branch=${branch}`;
}

/** Our Contact, naming the transport the far end should reach us over (sips: for TLS, §26.2.2). */
export function contactHeader(local: HostPort, transport: SipTransportName = 'udp'): string {
  if (transport === 'tls') return `<sips:callpay@${formatHostPort(local)}>`;
  return `<sip:callpay@${formatHostPort(local)}${transport === 'tcp' ? ';transport=tcp' : ''}>`;
}
