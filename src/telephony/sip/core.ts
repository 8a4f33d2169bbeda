import { randomBytes } from 'node:crypto';
import { formatHostPort, type HostPort } from './headers.js';
import type { ServerTransaction } from './server-transactions.js';
import type { ClientTransactions, Send, Timers } from './transactions.js';

/** What the INVITE attempt and its dialogs share with the user agent that owns the socket. */
export interface SipCore {
  client: ClientTransactions;
  send: Send;
  /** Our address as written in Via sent-by and Contact. */
  local: HostPort;
  timers: Timers;
  userAgent: string;
  /** Dialogs the UA routes the phone's requests to, by `dialogKey`. */
  dialogs: Map<string, DialogRoute>;
}

/** The part of a dialog the UA needs: route the phone's requests to it, end it on close. */
export interface DialogRoute {
  handleRequest(tx: ServerTransaction): void;
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
