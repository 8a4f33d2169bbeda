import type { Logger } from '../../log.js';
import type { Digit } from '../engine.js';
import type { DigestAnswerer } from './auth.js';
import { ALLOW, contactHeader, dialogKey, newBranch, viaHeader, type DialogRoute, type SipCore } from './core.js';
import { mediaType, parseInfoDtmf } from './dtmf-info.js';
import { formatHostPort, parseNameAddr, parseUri, uriDestination, type HostPort } from './headers.js';
import { getHeader, headerList, serialize, type IncomingRequest, type SipRequest } from './message.js';
import { OfferAnswer, type SessionMedia } from './offer-answer.js';
import type { ServerTransaction } from './server-transactions.js';
import { TrustedSources } from './trust.js';

/**
 * A confirmed dialog on the caller side (RFC 3261 §12, §13.2.2.4, §15): sends the ACK for the 2xx
 * (and again for each retransmitted 2xx), BYE both ways, and answers the phone's in-dialog OPTIONS,
 * INFO (DTMF) and re-INVITE, the last per RFC 3264 (offer-answer.ts). Requests are taken only from
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
  localSdp: string;
  remoteSdp: string;
  /** What the 2xx's answer negotiated; null when it was unusable (the dialog is then only hung up). */
  media: SessionMedia | null;
  /** The INVITE's Authorization headers: its ACK must carry them too (§13.2.2.4). */
  inviteAuth: Array<[string, string]>;
  digest: DigestAnswerer | null;
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

  constructor(private readonly init: DialogInit) {
    this.callId = init.callId;
    this.remoteSdp = init.remoteSdp;
    this.localSeq = init.localSeq;
    this.key = dialogKey(init.callId, init.localTag, init.remoteTag);
    this.hop = nextHop(init.routeSet, init.remoteTarget, init.fallbackDest);
    this.trusted = this.trust();
    this.negotiation = init.media ? new OfferAnswer(init.localSdp, init.media) : null;
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  /** Makes the UA route the phone's requests here. */
  register(): void {
    this.init.core.dialogs.set(this.key, this);
  }

  private trust(): TrustedSources {
    return new TrustedSources([this.hop.dest, ...this.init.core.trustedSources]);
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

  private request(method: string, seq: number, extra: Array<[string, string]> = []): SipRequest {
    const { core } = this.init;
    return {
      type: 'request',
      method,
      uri: this.hop.uri,
      headers: [
        ...headerList([
          ['via', viaHeader(core.local, newBranch())],
          ['max-forwards', '70'],
          ['from', this.init.fromHeader],
          ['to', this.init.toHeader],
          ['call-id', this.callId],
          ['cseq', `${seq} ${method}`],
        ]),
        ...this.hop.routes.map((value) => ({ name: 'route', value })),
        ...headerList([['user-agent', core.userAgent], ...extra]),
      ],
      body: '',
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
        return this.reinvite(tx);
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

  /** A re-INVITE (§14.2): answered per RFC 3264 from its offer, or with our offer when it has none. */
  private reinvite(tx: ServerTransaction): void {
    const req = tx.request;
    const { log, core } = this.init;
    const pending = this.awaitingAnswer;
    if (pending && Date.now() - pending.since < 64 * core.timers.t1) return tx.respond(491, 'Request Pending');
    this.awaitingAnswer = null;
    if (!this.negotiation) return tx.respond(488, 'Not Acceptable Here');
    let body: string;
    let media: SessionMedia | null = null;
    if (req.body.trim().length === 0) {
      body = this.negotiation.offer();
      this.awaitingAnswer = { seq: req.core.cseq.seq, since: Date.now() };
    } else {
      const type = mediaType(getHeader(req, 'content-type'));
      if (type !== 'application/sdp') return tx.respond(415, 'Unsupported Media Type', { headers: [['accept', 'application/sdp']] });
      const result = this.negotiation.answer(req.body);
      if (!result.ok) {
        log.warn({ reason: result.reason }, 're-INVITE refused (488): the session stays as it was');
        return tx.respond(488, 'Not Acceptable Here', { headers: [['warning', '305 callpay "Incompatible media format"']] });
      }
      body = result.answer;
      media = result.media;
      log.info({ direction: result.direction, codec: media.codec, send: media.send }, 're-INVITE answered');
    }
    const contact = getHeader(req, 'contact');
    const target = contact === undefined ? null : parseNameAddr(contact);
    if (target) {
      this.hop = nextHop(this.init.routeSet, target.uri, this.init.fallbackDest); // target refresh (§12.2)
      this.trusted = this.trust();
    }
    tx.respond(200, 'OK', {
      headers: [['contact', contactHeader(core.local)], ['allow', ALLOW], ['content-type', 'application/sdp']],
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
