import type { Logger } from '../../log.js';
import type { Digit } from '../engine.js';
import type { DigestAnswerer } from './auth.js';
import { ALLOW, contactHeader, dialogKey, localFor, newBranch, SUPPORTED, viaHeader, type DialogRoute, type SipCore } from './core.js';
import { mediaType, parseInfoDtmf } from './dtmf-info.js';
import { formatHostPort, parseNameAddr, parseUri, uriDestination, type HostPort } from './headers.js';
import { getHeader, headerList, serialize, type IncomingRequest, type IncomingResponse, type SipRequest } from './message.js';
import { OfferAnswer, type SessionMedia } from './offer-answer.js';
import type { ServerTransaction } from './server-transactions.js';
import { SessionRefresh, sendRefresh, type RefreshSender } from './session-refresh.js';
import { parseMinSe, type Schedule } from './session-timer.js';
import { TrustedSources } from './trust.js';

/**
 * A confirmed dialog on the caller side (RFC 3261 §12, §13.2.2.4, §15): sends the ACK for the 2xx
 * (and again for each retransmitted 2xx), BYE both ways, and answers the phone's in-dialog OPTIONS,
 * INFO (DTMF), re-INVITE and UPDATE, the last two per RFC 3264 (offer-answer.ts), and runs the RFC 4028
 * session timer (session-refresh.ts). Requests are taken only from
 * the endpoints the dialog sends to (trust.ts): anyone else gets 403 and changes nothing.
 */

export type EndedBy = 'local' | 'remote';

export type { SessionMedia } from './offer-answer.js';

export interface Dialog {
  readonly callId: string;
  /** The SDP answer from the 2xx. */
  readonly remoteSdp: string;
  /** Ends the call; idempotent, resolves when the BYE transaction is over (answered or timed out). */
  bye(): Promise<void>;
  /** DTMF keyed as SIP INFO; digits that arrive before the first handler are kept for it. */
  onDtmfInfo(cb: (digit: Digit, durationMs: number | null) => void): void;
  onRemoteBye(cb: () => void): void;
  /** The phone changed the session (re-INVITE: hold, resume, new address or codecs): media to apply now. */
  onSessionUpdate(cb: (media: SessionMedia) => void): void;
  readonly ended: Promise<EndedBy>;
}

export interface DialogInit {
  core: SipCore;
  log: Logger;
  callId: string;
  localTag: string;
  remoteTag: string;
  /** Our From header and the 2xx's To header, tags included, reused verbatim. */
  fromHeader: string;
  toHeader: string;
  /** CSeq of the INVITE that created the dialog. */
  localSeq: number;
  remoteTarget: string;
  /** Route headers in sending order (the 2xx's Record-Route, reversed). */
  routeSet: string[];
  /** Where to send when the remote target cannot be read as a SIP URI. */
  fallbackDest: HostPort;
  /** The outbound proxy's servers as RFC 3263 resolved them for this call (the proxy is always trusted). */
  trustedHops?: readonly HostPort[];
  localSdp: string;
  remoteSdp: string;
  /** What the 2xx's answer negotiated; null when it was unusable (the dialog is then only hung up). */
  media: SessionMedia | null;
  /** The INVITE's Authorization headers: its ACK must carry them too (§13.2.2.4). */
  inviteAuth: Array<[string, string]>;
  digest: DigestAnswerer | null;
  /** The highest CSeq used in the early dialog (PRACKs, RFC 3262): our requests continue after it. */
  lastSeq?: number;
  /** The session timer the 2xx set (RFC 4028 §7.2); null/absent = none. */
  sessionTimer?: Schedule;
  /** The 2xx's Allow listed UPDATE: refreshes use it rather than re-INVITE. */
  remoteAllowsUpdate?: boolean;
}

interface Hop {
  uri: string;
  routes: string[];
  dest: HostPort;
}

/** Request-URI, Route set and next hop for an in-dialog request (§12.2.1.1, loose and strict routing). */
export function nextHop(routeSet: string[], remoteTarget: string, fallback: HostPort): Hop {
  const first = routeSet[0] === undefined ? null : parseNameAddr(routeSet[0]);
  const firstUri = first ? parseUri(first.uri) : null;
  if (first && firstUri) {
    if (firstUri.params.has('lr')) return { uri: remoteTarget, routes: routeSet, dest: uriDestination(firstUri) };
    // A strict router (RFC 2543) takes the Request-URI; the remote target goes to the end of Route.
    return { uri: first.uri, routes: [...routeSet.slice(1), `<${remoteTarget}>`], dest: uriDestination(firstUri) };
  }
  const target = parseUri(remoteTarget);
  return { uri: remoteTarget, routes: routeSet, dest: target ? uriDestination(target) : fallback };
}

const MAX_BUFFERED_DIGITS = 32;
/** Refused requests logged at warn per call; the rest are counted and summed up when the call ends. */
const REFUSALS_LOGGED = 5;

export class SipDialog implements Dialog, DialogRoute {
  readonly callId: string;
  readonly remoteSdp: string;
  readonly ended: Promise<EndedBy>;
  private readonly key: string;
  private hop: Hop;
  private trusted: TrustedSources;
  private readonly negotiation: OfferAnswer | null;
  /** CSeq of a re-INVITE without SDP whose ACK must bring the answer to our offer, and since when. */
  private awaitingAnswer: { seq: number; since: number } | null = null;
  private refused = 0;
  private localSeq: number;
  private remoteSeq: number | null = null;
  private ack: string | null = null;
  private endedBy: EndedBy | null = null;
  private byeDone: Promise<void> | null = null;
  private resolveEnded!: (by: EndedBy) => void;
  private readonly dtmfHandlers: Array<(digit: Digit, durationMs: number | null) => void> = [];
  private readonly dtmfBuffer: Array<[Digit, number | null]> = [];
  private readonly byeHandlers: Array<() => void> = [];
  private readonly updateHandlers: Array<(media: SessionMedia) => void> = [];
  private readonly refresh: SessionRefresh;

  constructor(private readonly init: DialogInit) {
    this.callId = init.callId;
    this.remoteSdp = init.remoteSdp;
    this.localSeq = Math.max(init.localSeq, init.lastSeq ?? 0);
    this.key = dialogKey(init.callId, init.localTag, init.remoteTag);
    this.hop = nextHop(init.routeSet, init.remoteTarget, init.fallbackDest);
    this.trusted = this.trust();
    this.negotiation = init.media ? new OfferAnswer(init.localSdp, init.media) : null;
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
    this.refresh = new SessionRefresh({
      log: init.log,
      useUpdate: init.remoteAllowsUpdate ?? false,
      send: (method, headers) => sendRefresh(this.refreshSender(), method, headers),
      expire: (reason) => {
        init.log.info({ reason }, 'session timer: hanging up');
        void this.bye();
      },
    });
  }

  /** Makes the UA route the phone's requests here, and starts the session timer. */
  register(): void {
    this.init.core.dialogs.set(this.key, this);
    this.refresh.start(this.init.sessionTimer ?? null);
  }

  private contact(): string {
    return contactHeader(localFor(this.init.core, this.hop.dest.transport), this.hop.dest.transport);
  }

  private refreshSender(): RefreshSender {
    return {
      core: this.init.core,
      digest: this.init.digest,
      hop: () => this.hop,
      build: (method, extra, body) => {
        const seq = ++this.localSeq;
        return { request: this.request(method, seq, [['contact', this.contact()], ['allow', ALLOW], ...extra], body), seq };
      },
      buildAck: (seq, auth) => this.request('ACK', seq, auth),
      localSdp: () => this.negotiation?.localSdp ?? null,
      answered: (res) => this.refreshAnswered(res),
    };
  }

  /** The 2xx to our refresh re-INVITE: a target refresh, and the answer to our (unchanged) offer. */
  private refreshAnswered(res: IncomingResponse): void {
    this.targetRefresh(getHeader(res, 'contact'));
    if (!this.negotiation || res.body.trim().length === 0) return;
    const before = JSON.stringify(this.negotiation.media);
    const answered = this.negotiation.acceptAnswer(res.body);
    if (!answered.ok) return this.init.log.warn({ reason: answered.reason }, 'unusable answer to our refresh: media unchanged');
    if (JSON.stringify(answered.media) !== before) this.updated(answered.media);
  }

  private targetRefresh(contact: string | undefined): void {
    const target = contact === undefined ? null : parseNameAddr(contact);
    if (!target) return;
    this.hop = nextHop(this.init.routeSet, target.uri, this.init.fallbackDest); // target refresh (§12.2)
    this.trusted = this.trust();
  }

  private trust(): TrustedSources {
    return new TrustedSources([this.hop.dest, ...(this.init.trustedHops ?? []), ...this.init.core.trustedSources]);
  }

  admits(req: IncomingRequest, source: HostPort): boolean {
    if (this.trusted.allows(source)) return true;
    this.refused += 1;
    // Who sent it and what; never its headers, which carry the phone number.
    const fields = { method: req.method, source: formatHostPort(source), refused: this.refused };
    if (this.refused <= REFUSALS_LOGGED) this.init.log.warn(fields, 'in-dialog request from an untrusted source refused');
    else this.init.log.debug(fields, 'in-dialog request from an untrusted source refused');
    return false;
  }

  private request(method: string, seq: number, extra: Array<[string, string]> = [], body = ''): SipRequest {
    const { core } = this.init;
    return {
      type: 'request',
      method,
      uri: this.hop.uri,
      headers: [
        ...headerList([
          ['via', viaHeader(localFor(core, this.hop.dest.transport), newBranch(), this.hop.dest.transport)],
          ['max-forwards', '70'],
          ['from', this.init.fromHeader],
          ['to', this.init.toHeader],
          ['call-id', this.callId],
          ['cseq', `${seq} ${method}`],
        ]),
        ...this.hop.routes.map((value) => ({ name: 'route', value })),
        ...headerList([['user-agent', core.userAgent], ...extra]),
      ],
      body,
    };
  }

  /** ACK for the 2xx: a new transaction of its own, with the INVITE's CSeq number (§13.2.2.4). */
  sendAck(): void {
    this.ack ??= serialize(this.request('ACK', this.init.localSeq, this.init.inviteAuth));
    this.init.core.send(this.ack, this.hop.dest);
  }

  bye(): Promise<void> {
    if (this.byeDone) return this.byeDone;
    if (this.endedBy === 'remote') return (this.byeDone = Promise.resolve());
    this.end('local');
    this.byeDone = this.sendBye();
    return this.byeDone;
  }

  private async sendBye(): Promise<void> {
    const { core, log } = this.init;
    let res = await core.client.nonInvite(this.request('BYE', ++this.localSeq), this.hop.dest);
    if (res && (res.status === 401 || res.status === 407) && this.init.digest) {
      const answer = this.init.digest.answer(res, 'BYE', this.hop.uri);
      if (answer) res = await core.client.nonInvite(this.request('BYE', ++this.localSeq, answer.headers), this.hop.dest);
    }
    core.dialogs.delete(this.key);
    log.info({ sipStatus: res?.status ?? null }, res ? 'BYE answered' : 'BYE not answered (timer F)');
  }

  private end(by: EndedBy): void {
    if (this.endedBy) return;
    this.endedBy = by;
    this.refresh.stop();
    this.dtmfBuffer.length = 0;
    if (this.refused > REFUSALS_LOGGED) this.init.log.warn({ refused: this.refused }, 'in-dialog requests from untrusted sources refused during the call');
    this.resolveEnded(by);
    if (by === 'remote') for (const cb of this.byeHandlers) this.safely(() => cb());
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.init.log.error({ err }, 'dialog event handler failed');
    }
  }

  handleRequest(tx: ServerTransaction): void {
    const req = tx.request;
    const { log } = this.init;
    if (req.method === 'CANCEL') {
      // Only a re-INVITE can be cancelled, and we answer those at once: a CANCEL that matches one is
      // too late and changes nothing (200), one that matches none gets 481 (§9.2).
      return this.init.core.server.hasInvite(req) ? tx.respond(200, 'OK') : tx.respond(481, 'Call/Transaction Does Not Exist');
    }
    if (this.remoteSeq !== null && req.core.cseq.seq < this.remoteSeq) return tx.respond(500, 'Request Out Of Order'); // §12.2.2
    this.remoteSeq = req.core.cseq.seq;
    if (this.endedBy && req.method !== 'BYE') return tx.respond(481, 'Call/Transaction Does Not Exist');
    switch (req.method) {
      case 'BYE':
        tx.respond(200, 'OK');
        this.init.core.dialogs.delete(this.key);
        if (!this.endedBy) log.info('phone hung up (BYE)');
        this.end('remote');
        return;
      case 'OPTIONS':
        return tx.respond(200, 'OK', { headers: [['allow', ALLOW], ['accept', 'application/sdp']] });
      case 'INFO':
        tx.respond(200, 'OK');
        return this.info(req.body, getHeader(req, 'content-type'));
      case 'INVITE':
      case 'UPDATE':
        return this.sessionRequest(tx);
      case 'PRACK':
        // We never send reliable provisional responses: a PRACK matches none (RFC 3262 §3).
        return tx.respond(481, 'Call/Transaction Does Not Exist');
      default:
        return tx.respond(405, 'Method Not Allowed', { headers: [['allow', ALLOW]] });
    }
  }

  handleAck(req: IncomingRequest): void {
    const waiting = this.awaitingAnswer;
    if (!waiting || waiting.seq !== req.core.cseq.seq || !this.negotiation) return;
    this.awaitingAnswer = null;
    if (req.body.trim().length === 0) {
      this.init.log.warn('ACK without the answer to our offer: media unchanged');
      return;
    }
    const answered = this.negotiation.acceptAnswer(req.body);
    if (!answered.ok) {
      this.init.log.warn({ reason: answered.reason }, 'unusable answer in the ACK: media unchanged');
      return;
    }
    this.updated(answered.media);
  }

  private info(body: string, contentType: string | undefined): void {
    const dtmf = parseInfoDtmf(contentType, body);
    if (!dtmf.ok) {
      this.init.log.debug({ reason: dtmf.reason }, 'INFO without a usable DTMF key ignored');
      return;
    }
    this.init.log.debug('DTMF key received by SIP INFO'); // which key never reaches a log
    if (this.dtmfHandlers.length === 0) {
      if (this.dtmfBuffer.length < MAX_BUFFERED_DIGITS) this.dtmfBuffer.push([dtmf.digit, dtmf.durationMs]);
      return;
    }
    for (const cb of this.dtmfHandlers) this.safely(() => cb(dtmf.digit, dtmf.durationMs));
  }

  /**
   * A re-INVITE (§14.2) or UPDATE (RFC 3311): an offer is answered per RFC 3264; a re-INVITE without one
   * gets ours; an UPDATE without one only refreshes. Either may be the phone's session refresh (RFC 4028 §9).
   */
  private sessionRequest(tx: ServerTransaction): void {
    const req = tx.request;
    const { log, core } = this.init;
    const offers = req.method === 'INVITE' || req.body.trim().length > 0;
    const pending = this.awaitingAnswer;
    // An offer while ours is outstanding (our re-INVITE, or our offer awaiting its ACK) is glare.
    if (offers && ((pending && Date.now() - pending.since < 64 * core.timers.t1) || this.refresh.inviteInFlight)) return tx.respond(491, 'Request Pending');
    if (offers) this.awaitingAnswer = null;
    if (!this.negotiation) return tx.respond(488, 'Not Acceptable Here');
    let body = '';
    let media: SessionMedia | null = null;
    if (req.body.trim().length === 0) {
      if (req.method === 'INVITE') {
        body = this.negotiation.offer();
        this.awaitingAnswer = { seq: req.core.cseq.seq, since: Date.now() };
      }
    } else {
      const type = mediaType(getHeader(req, 'content-type'));
      if (type !== 'application/sdp') return tx.respond(415, 'Unsupported Media Type', { headers: [['accept', 'application/sdp']] });
      const result = this.negotiation.answer(req.body);
      if (!result.ok) {
        log.warn({ reason: result.reason, method: req.method }, 'offer refused (488): the session stays as it was');
        return tx.respond(488, 'Not Acceptable Here', { headers: [['warning', '305 callpay "Incompatible media format"']] });
      }
      body = result.answer;
      media = result.media;
      log.info({ method: req.method, direction: result.direction, codec: media.codec, send: media.send }, 'offer answered');
    }
    this.targetRefresh(getHeader(req, 'contact'));
    const timer = this.refresh.remoteRefresh(req, parseMinSe(getHeader(req, 'min-se')));
    tx.respond(200, 'OK', {
      headers: [['contact', this.contact()], ['allow', ALLOW], ['supported', SUPPORTED], ...timer, ...(body ? [['content-type', 'application/sdp'] as [string, string]] : [])],
      body,
    });
    if (media) this.updated(media);
  }

  private updated(media: SessionMedia): void {
    for (const cb of this.updateHandlers) this.safely(() => cb({ ...media }));
  }

  onDtmfInfo(cb: (digit: Digit, durationMs: number | null) => void): void {
    this.dtmfHandlers.push(cb);
    for (const [digit, duration] of this.dtmfBuffer.splice(0)) this.safely(() => cb(digit, duration));
  }

  onRemoteBye(cb: () => void): void {
    if (this.endedBy === 'remote') this.safely(cb);
    else this.byeHandlers.push(cb);
  }

  onSessionUpdate(cb: (media: SessionMedia) => void): void {
    this.updateHandlers.push(cb);
  }
}
