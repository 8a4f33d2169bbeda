import type { Digit } from '../../engine.js';
import type { EndedBy, SessionMedia } from '../dialog.js';
import type { ForwardingSign } from '../forwarding.js';
import type { HostPort } from '../headers.js';
import type { InviteRequest, InviteResult } from '../invite.js';
import type { OptionsResult } from '../options.js';
import type { SipUserAgentOptions } from '../ua.js';
import type { CallerInfo } from '../uas.js';

/**
 * Messages between the main thread and the SIP worker (sip-worker.ts). The worker owns the SIP
 * sockets, transactions and dialogs; the main thread sees a `SipUserAgent` (remote-ua.ts) whose
 * calls and callbacks travel as these messages. Calls are numbered by the main thread (`id`).
 */

/** The user agent's options as they cross to the worker: everything but the logger. */
export type WorkerUaOptions = Omit<SipUserAgentOptions, 'log'>;

export interface SipWorkerData {
  /** tsx bootstrap (development): the worker's own entry. */
  entry?: string;
  options: WorkerUaOptions;
  /** The main logger's level and bindings, so the worker's lines read like the main thread's. */
  logLevel: string;
  logBindings: Record<string, unknown>;
}

/** An INVITE as it crosses: the logger becomes its bindings, the callbacks become flags. */
export type WireInvite = Omit<InviteRequest, 'log' | 'signal' | 'onProvisional'> & {
  logBindings: Record<string, unknown>;
  /** Send `provisional` events (the caller has an onProvisional). */
  provisional: boolean;
};

/** The answered result without its live dialog, which stays in the worker under the call's id. */
export type WireInviteResult =
  | (Omit<Extract<InviteResult, { kind: 'answered' }>, 'dialog'>)
  | Exclude<InviteResult, { kind: 'answered' }>;

export type ToSipWorker =
  | { op: 'invite'; id: number; req: WireInvite; aborted: boolean }
  | { op: 'abort'; id: number }
  | { op: 'bye'; id: number }
  | { op: 'options'; req: number; requestUri: string; timeoutMs: number }
  /** An inbound call (ids from the worker, negative): answer with media at host:port, or refuse. */
  | { op: 'accept'; id: number; host: string; port: number }
  | { op: 'reject'; id: number; status: number; reason: string }
  | { op: 'close' };

export type FromSipWorker =
  | { ev: 'ready'; local: HostPort; tlsPort: number | null; receiveBufferBytes: number | null }
  | { ev: 'start_failed'; message: string }
  | { ev: 'log'; line: string }
  | { ev: 'provisional'; id: number; status: number; reason: string; sdp: string | null; forwarded: ForwardingSign[] }
  | { ev: 'result'; id: number; result: WireInviteResult }
  | { ev: 'invite_failed'; id: number; message: string }
  | { ev: 'dtmf'; id: number; digit: Digit; durationMs: number | null }
  | { ev: 'remote_bye'; id: number }
  | { ev: 'update'; id: number; media: SessionMedia }
  | { ev: 'bye_done'; id: number }
  | { ev: 'ended'; id: number; by: EndedBy }
  | { ev: 'options'; req: number; result: OptionsResult }
  | { ev: 'incoming'; id: number; callId: string; caller: CallerInfo; offer: string }
  | { ev: 'incoming_cancelled'; id: number }
  | { ev: 'accepted'; id: number; media: SessionMedia }
  | { ev: 'accept_failed'; id: number; reason: string }
  | { ev: 'closed' };
