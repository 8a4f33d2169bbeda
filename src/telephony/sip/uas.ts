import type { Logger } from '../../log.js';
import { ALLOW, contactHeader, localFor, newTag, SUPPORTED, type SipCore } from './core.js';
import { SipDialog, type Dialog } from './dialog.js';
import { mediaType } from './dtmf-info.js';
import { formatHostPort, parseNameAddr, parseUri, type HostPort } from './headers.js';
import { getHeader, getHeaders, type IncomingRequest } from './message.js';
import { OfferAnswer, type SessionMedia } from './offer-answer.js';
import { buildOffer } from './sdp.js';
import type { ServerTransaction } from './server-transactions.js';
import type { TrustedSources } from './trust.js';

/**
 * Calls to callpay (RFC 3261 §13.3, UAS side), for consumer self-service (issue 16 item 2). The UA
 * hands each new INVITE here; the INVITE gets a 100 at once and waits for the application to accept
 * it (with the local RTP address its media session got) or reject it. Accepting answers the caller's
 * SDP offer (offer-answer.ts), sends the 200, retransmitted until the ACK (server-transactions.ts), and
 * makes a dialog of the same class as an outgoing call's, so BYE, INFO, re-INVITE and the source
 * screening behave the same both ways.
 *
 * Who is calling: the From user part, and P-Asserted-Identity (RFC 3325) which only a trusted network
 * element may assert; whether the INVITE came from a trusted source (trust.ts, config
 * `telephony.sip.trustedSources` and the outbound proxy) travels with it, and the application decides.
 */

/** The caller as the INVITE states it. Phone numbers: never logged. */
export interface CallerInfo {
  /** The user part of the From URI (a number, or anything a caller wrote). */
  fromUser: string | null;
  /** The user part (or tel: number) of the first P-Asserted-Identity; null without one. */
  assertedUser: string | null;
  /** The INVITE came from a trusted signalling address (the trunk). */
  trustedSource: boolean;
}

export type AcceptOutcome =
  | { ok: true; dialog: Dialog; media: SessionMedia }
  | { ok: false; reason: string };

export interface InboundInvite {
  readonly callId: string;
  readonly caller: CallerInfo;
  /** The caller's SDP offer. */
  readonly offer: string;
  /** Answers the offer with media at `local`, sends the 200 and returns the dialog; once only (a second call fails). */
  accept(local: { host: string; port: number }): AcceptOutcome;
  /** A final refusal (e.g. 486, 480, 603). */
  reject(status: number, reason: string): void;
  /** The caller gave up (CANCEL) before an answer: the INVITE has had its 487. */
  onCancel(cb: () => void): void;
}

const SIP_USER = /^(?:sips?:|tel:)([^@;?>]+)/i;

/** The user part of a SIP URI, or the number of a tel: URI. */
export function userOf(uri: string | undefined): string | null {
  if (uri === undefined) return null;
  const parsed = parseUri(uri);
  if (parsed) return parsed.user ? decodeURIComponent(parsed.user.split(';')[0]!) : null;
  const m = SIP_USER.exec(uri.trim());
  return m?.[1] ? decodeURIComponent(m[1]) : null;
}

function assertedUser(req: IncomingRequest): string | null {
  for (const value of getHeaders(req, 'p-asserted-identity')) {
    // One header may carry a SIP and a tel URI, comma-separated: the first with a user part counts.
    for (const part of value.split(',')) {
      const addr = parseNameAddr(part.trim());
      const user = userOf(addr?.uri ?? part.trim());
      if (user) return user;
    }
  }
  return null;
}

interface Pending {
  tx: ServerTransaction;
  cancelled: boolean;
  decided: boolean;
  onCancel: Array<() => void>;
}

export class InboundInvites {
  /** INVITEs awaiting the application's answer, by Call-ID and branch (how a CANCEL names its INVITE, §9.2). */
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly core: SipCore,
    private readonly trusted: TrustedSources,
    private readonly log: Logger,
    private readonly handler: (invite: InboundInvite) => void,
  ) {}

  private static key(req: IncomingRequest): string {
    return `${req.core.callId}|${req.core.via.branch ?? ''}`;
  }

  /** A new out-of-dialog INVITE (not a retransmission: the UA answered those already). */
  receive(req: IncomingRequest, source: HostPort): void {
    const tx = this.core.server.begin(req, source);
    const callLog = this.log.child({ callId: req.core.callId, inbound: true });
    if (req.body.trim().length === 0 || mediaType(getHeader(req, 'content-type')) !== 'application/sdp') {
      // Offerless INVITEs (the offer in our 200, the answer in the ACK) are not supported here.
      callLog.info({ source: formatHostPort(source) }, 'inbound INVITE without an SDP offer refused (488)');
      return tx.respond(488, 'Not Acceptable Here', { toTag: newTag() });
    }
    tx.respond(100, 'Trying');
    const key = InboundInvites.key(req);
    const entry: Pending = { tx, cancelled: false, decided: false, onCancel: [] };
    this.pending.set(key, entry);
    const localTag = newTag();
    const settle = () => {
      entry.decided = true;
      this.pending.delete(key);
    };
    const caller: CallerInfo = { fromUser: userOf(req.core.from.uri), assertedUser: assertedUser(req), trustedSource: this.trusted.allows(source) };
    callLog.info({ source: formatHostPort(source), trustedSource: caller.trustedSource, asserted: caller.assertedUser !== null }, 'inbound call');
    const invite: InboundInvite = {
      callId: req.core.callId,
      caller,
      offer: req.body,
      accept: (local) => {
        if (entry.decided || entry.cancelled) return { ok: false, reason: entry.cancelled ? 'caller cancelled' : 'already answered' };
        settle();
        return this.answer(req, tx, source, localTag, local, callLog);
      },
      reject: (status, reason) => {
        if (entry.decided || entry.cancelled) return;
        settle();
        callLog.info({ sipStatus: status }, 'inbound call refused');
        tx.respond(status, reason, { toTag: localTag });
      },
      onCancel: (cb) => {
        if (entry.cancelled) cb();
        else entry.onCancel.push(cb);
      },
    };
    try {
      this.handler(invite);
    } catch (err) {
      callLog.error({ err }, 'inbound call handler failed');
      invite.reject(500, 'Server Internal Error');
    }
  }

  /** A CANCEL outside any dialog: true when it matched a pending INVITE of ours (answered 200, the INVITE 487). */
  cancel(req: IncomingRequest, source: HostPort): boolean {
    const key = InboundInvites.key(req);
    const entry = this.pending.get(key);
    if (!entry) return false;
    this.core.server.stateless(req, source, 200, 'OK');
    this.pending.delete(key);
    entry.cancelled = true;
    entry.tx.respond(487, 'Request Terminated', { toTag: newTag() });
    for (const cb of entry.onCancel) cb();
    return true;
  }

  /** The 200 with our answer, and the dialog it makes (§12.1.1: route set in the order received). */
  private answer(req: IncomingRequest, tx: ServerTransaction, source: HostPort, localTag: string, local: { host: string; port: number }, log: Logger): AcceptOutcome {
    const negotiation = new OfferAnswer(buildOffer({ host: local.host, port: local.port }), {
      codec: 'PCMU', payloadType: 0, telephoneEventPt: null, remoteHost: '0.0.0.0', remotePort: 0, send: false,
    });
    const answered = negotiation.answer(req.body);
    if (!answered.ok) {
      log.info({ reason: answered.reason }, 'inbound offer refused (488)');
      tx.respond(488, 'Not Acceptable Here', { toTag: localTag, headers: [['warning', '305 callpay "Incompatible media format"']] });
      return { ok: false, reason: answered.reason };
    }
    const transport = source.transport;
    const contact = contactHeader(localFor(this.core, transport), transport);
    const toHeader = `${getHeader(req, 'to') ?? ''};tag=${localTag}`;
    const remoteContact = getHeader(req, 'contact');
    const dialog = new SipDialog({
      core: this.core,
      log,
      callId: req.core.callId,
      localTag,
      remoteTag: req.core.from.tag ?? '',
      // Our requests in this dialog: From = the INVITE's To with our tag, To = the INVITE's From (§12.1.1).
      fromHeader: toHeader,
      toHeader: getHeader(req, 'from') ?? '',
      localSeq: 0,
      remoteTarget: (remoteContact === undefined ? null : parseNameAddr(remoteContact))?.uri ?? `sip:${source.host}:${source.port}`,
      routeSet: getHeaders(req, 'record-route'),
      fallbackDest: source,
      localSdp: answered.answer,
      remoteSdp: req.body,
      media: answered.media,
      inviteAuth: [],
      digest: null,
    });
    dialog.register();
    // The 2xx goes through the INVITE's server transaction, which retransmits it until the ACK (§13.3.1.4).
    tx.respond(200, 'OK', {
      toTag: localTag,
      headers: [['contact', contact], ['allow', ALLOW], ['supported', SUPPORTED], ['content-type', 'application/sdp']],
      body: answered.answer,
    });
    log.info({ codec: answered.media.codec }, 'inbound call answered');
    return { ok: true, dialog, media: answered.media };
  }
}
