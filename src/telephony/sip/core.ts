import { randomBytes } from 'node:crypto';
import { formatHostPort, type HostPort } from './headers.js';
import type { IncomingRequest } from './message.js';
import type { ServerTransaction, ServerTransactions } from './server-transactions.js';
import type { ClientTransactions, Send, Timers } from './transactions.js';

/** What the INVITE attempt and its dialogs share with the user agent that owns the socket. */
export interface SipCore {
  client: ClientTransactions;
  server: ServerTransactions;
  send: Send;
  /** Our address as written in Via sent-by and Contact. */
  local: HostPort;
  timers: Timers;
  userAgent: string;
  /** Dialogs the UA routes the phone's requests to, by `dialogKey`. */
  dialogs: Map<string, DialogRoute>;
  /** Extra endpoints every dialog takes requests from: the outbound proxy, `telephony.sip.trustedSources`. */
  trustedSources: readonly HostPort[];
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

export const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO';

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

/** Our Via: UDP, asking for rport (RFC 3581) so responses find us through NAT. */
export function viaHeader(local: HostPort, branch: string): string {
  return `SIP/2.0/UDP ${formatHostPort(local)};rport;branch=${branch}`;
}

export function contactHeader(local: HostPort): string {
  return `<sip:callpay@${formatHostPort(local)}>`;
}
