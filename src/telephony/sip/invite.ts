import type { Logger } from '../../log.js';
import type { NotAnswered } from '../engine.js';
import { DigestAnswerer } from './auth.js';
import { ALLOW, contactHeader, localFor, newBranch, newCallId, newTag, SUPPORTED, viaHeader, type SipCore } from './core.js';
import type { DigestCredentials } from './digest.js';
import { SipDialog, type Dialog } from './dialog.js';
import { formatHostPort, formatNameAddr, maskUri, parseNameAddr, parseUri, uriDestination, type HostPort } from './headers.js';
import { getHeader, getHeaders, headerList, type IncomingResponse, type SipRequest } from './message.js';
import { ForwardingWatch, type ForwardingSign } from './forwarding.js';
import { ReliableProvisionals } from './prack.js';
import { parseAnswer, type SdpAnswer } from './sdp.js';
import { after422, allowsMethod, MIN_SE, scheduleFromResponse } from './session-timer.js';
import { describeHop, maskDigits } from './resolve.js';
import { targetFromUri, type SipTarget } from './target.js';
import { requestLikeInvite, topBranch } from './transactions.js';

/**
 * One outgoing call attempt (RFC 3261 §13.2): the INVITE, its provisional and final responses,
 * CANCEL on ring timeout or abort, a digest retry, and the 2xx that becomes a dialog. Final
 * responses become outcome values here, at the boundary.
 */

export interface InviteRequest {
  /** The SIP URI to call, already built from the template (it contains the number: never logged). */
  requestUri: string;
  /** Our From URI (caller ID) and its display name. */
  from: string;
  displayName: string;
  sdpOffer: string;
  credentials?: DigestCredentials | null;
  ringTimeoutMs: number;
  /** Abort = CANCEL while ringing, BYE once answered. */
  signal?: AbortSignal;
  log: Logger;
  /**
   * 180/183 (and other 1xx but 100); early SDP is information only, media starts after the 200.
   * `forwarded`: the signs of forwarding seen so far (forwarding.ts), [] when none.
   */
  onProvisional?: (p: { status: number; reason: string; sdp: string | null; forwarded: ForwardingSign[] }) => void;
}

export type Media = Extract<SdpAnswer, { ok: true }>;

export type InviteResult =
  | { kind: 'answered'; callId: string; status: number; dialog: Dialog; remoteSdp: string; media: Omit<Media, 'ok'>; forwarded: ForwardingSign[] }
  | { kind: NotAnswered; callId: string; sipStatus: number | null; reason: string };

type NotAnsweredResult = Extract<InviteResult, { kind: NotAnswered }>;

/** 486/600 busy, 603 rejected, 408/480/487 no answer, the rest failed (issue 4). */
export function outcomeForStatus(status: number): NotAnswered {
  if (status === 486 || status === 600) return 'busy';
  if (status === 603) return 'rejected';
  if (status === 408 || status === 480 || status === 487) return 'no_answer';
  return 'failed';
}

export interface InviteContext {
  core: SipCore;
  /** Where the INVITE goes: the outbound proxy, or null for the request-URI's host. */
  outboundProxy: SipTarget | null;
  /** RFC 3263: the target's hops in the order to try them (resolve.ts); [] when nothing resolves. */
  locate(target: SipTarget, log: Logger): Promise<HostPort[]>;
}

export class InviteAttempt {
  private readonly callId = newCallId();
  private readonly fromHeader: string;
  private readonly log: Logger;
  private readonly digest: DigestAnswerer | null;
  private dest: HostPort = { host: '', port: 0 };
  /** Every hop of the target, in order; `dest` is hops[hopIndex] (RFC 3263 §4.3 failover). */
  private hops: HostPort[] = [];
  private hopIndex = 0;
  private seq = 0;
  private authHeaders: Array<[string, string]> = [];
  private authTries = 0;
  private provisional = false;
  private cancelSent = false;
  /** Set when we give up (ring timeout, abort): the outcome whatever the final response says. */
  private givenUp: NotAnsweredResult | null = null;
  private done = false;
  private answered = false;
  private readonly forks = new Map<string, SipDialog>();
  private ringTimer: NodeJS.Timeout | undefined;
  private cancelTimer: NodeJS.Timeout | undefined;
  private stopInvite: (() => void) | null = null;
  private currentInvite: SipRequest | null = null;
  private resolve!: (r: InviteResult) => void;
  private readonly reliable: ReliableProvisionals;
  /** Session-Expires and Min-SE of our INVITE (RFC 4028), raised once by a 422. */
  private timerAsk: { seconds: number; minSe: number };
  private retried422 = false;
  private readonly forwarding = new ForwardingWatch();

  constructor(
    private readonly ctx: InviteContext,
    private readonly req: InviteRequest,
  ) {
    this.log = req.log.child({ callId: this.callId });
    this.fromHeader = formatNameAddr({ displayName: req.displayName || null, uri: req.from, params: new Map([['tag', newTag()]]) });
    this.digest = req.credentials ? new DigestAnswerer(req.credentials) : null;
    this.reliable = new ReliableProvisionals({ core: ctx.core, log: this.log, callId: this.callId, fromHeader: this.fromHeader, fallbackDest: () => this.dest, digest: this.digest });
    this.timerAsk = { seconds: ctx.core.sessionExpires, minSe: MIN_SE };
  }

  start(): Promise<InviteResult> {
    const result = new Promise<InviteResult>((resolve) => (this.resolve = resolve));
    const uri = parseUri(this.req.requestUri);
    let refusal: string | null = null;
    if (!uri) refusal = 'request URI is not a SIP URI';
    else if (this.req.signal?.aborted) refusal = 'aborted before dialing';
    if (!uri || refusal !== null) {
      this.finish(this.failed(null, refusal ?? 'request URI is not a SIP URI'));
      return result;
    }
    const target = this.ctx.outboundProxy ?? targetFromUri(uri);
    if (!target) {
      this.finish(this.failed(null, 'request URI names a transport this engine does not speak'));
      return result;
    }
    // The ring timeout bounds the whole attempt: DNS, and every hop tried.
    this.ringTimer = setTimeout(() => this.giveUp({ kind: 'no_answer', callId: this.callId, sipStatus: null, reason: 'ring timeout' }), this.req.ringTimeoutMs);
    this.req.signal?.addEventListener('abort', this.onAbort, { once: true });
    void this.dialFirstHop(target);
    return result;
  }

  private async dialFirstHop(target: SipTarget): Promise<void> {
    let hops: HostPort[] = [];
    try {
      hops = await this.ctx.locate(target, this.log);
    } catch (err) {
      this.log.warn({ err }, 'locating the next hop failed'); // resolve.ts never rejects; a bug must not leave the call hanging
    }
    if (this.done || this.givenUp) return; // ring timeout, abort or shutdown while DNS answered: already reported
    if (hops.length === 0) {
      const where = this.ctx.outboundProxy ? 'the outbound proxy' : 'the request URI host';
      return this.finish(this.failed(null, `cannot resolve ${where} ${maskDigits(target.host)} (no NAPTR/SRV/A/AAAA answer)`));
    }
    this.hops = hops;
    this.dest = hops[0]!;
    this.log.info({ target: maskUri(this.req.requestUri), nextHop: describeHop(this.dest), hops: hops.length }, 'dialing');
    this.sendInvite();
  }

  /**
   * RFC 3263 §4.3: after a timeout, a transport failure or a 503, the next hop gets the INVITE as a
   * new transaction (new branch, CSeq + 1, same Call-ID and From tag). False when none is left.
   */
  private tryNextHop(why: string): boolean {
    if (this.done || this.givenUp || this.hopIndex + 1 >= this.hops.length) return false;
    const failed = this.dest;
    this.hopIndex += 1;
    this.dest = this.hops[this.hopIndex]!;
    // A challenge from the last hop says nothing about this one.
    this.authHeaders = [];
    this.authTries = 0;
    this.log.warn({ failedHop: describeHop(failed), why, nextHop: describeHop(this.dest), hop: this.hopIndex + 1, hops: this.hops.length }, 'trying the next hop');
    this.sendInvite();
    return true;
  }

  private readonly onAbort = (): void => {
    this.giveUp(this.failed(null, 'aborted'));
  };

  private failed(sipStatus: number | null, reason: string): NotAnsweredResult {
    return { kind: 'failed', callId: this.callId, sipStatus, reason };
  }

  private sendInvite(): void {
    this.seq = Math.max(this.seq, this.reliable.lastSeq) + 1; // after any PRACK of an earlier attempt
    this.reliable.reset(this.seq);
    this.provisional = false;
    this.cancelSent = false;
    const invite: SipRequest = {
      type: 'request',
      method: 'INVITE',
      uri: this.req.requestUri,
      headers: headerList([
        ['via', viaHeader(localFor(this.ctx.core, this.dest.transport), newBranch(), this.dest.transport)],
        ['max-forwards', '70'],
        ['from', this.fromHeader],
        ['to', formatNameAddr({ uri: this.req.requestUri })],
        ['call-id', this.callId],
        ['cseq', `${this.seq} INVITE`],
        ['contact', contactHeader(localFor(this.ctx.core, this.dest.transport), this.dest.transport)],
        ['allow', ALLOW],
        ['supported', SUPPORTED],
        ['session-expires', String(this.timerAsk.seconds)],
        ['min-se', String(this.timerAsk.minSe)],
        ['user-agent', this.ctx.core.userAgent],
        ...this.authHeaders,
        ['content-type', 'application/sdp'],
      ]),
      body: this.req.sdpOffer,
    };
    this.currentInvite = invite;
    this.stopInvite = this.ctx.core.client.invite(invite, this.dest, {
      onResponse: (res) => this.onResponse(res, invite),
      onTimeout: () => {
        if (!this.tryNextHop('no response (timer B)')) this.finish(this.givenUp ?? this.failed(null, 'no response to INVITE (timer B)'));
      },
      onTransportError: (reason) => {
        if (!this.tryNextHop(`transport error: ${reason}`)) this.finish(this.givenUp ?? this.failed(null, `cannot reach ${formatHostPort(this.dest)} over ${this.dest.transport ?? 'udp'}: ${reason}`));
      },
    });
  }

  /** Ring timeout or abort: CANCEL once a provisional response allows it (§9.1). */
  private giveUp(outcome: NotAnsweredResult): void {
    if (this.done || this.givenUp) return;
    this.givenUp = outcome;
    this.log.info({ reason: outcome.reason }, 'giving up on the call');
    if (this.provisional) this.sendCancel();
    // Nothing heard yet: report now; a late 1xx still gets its CANCEL, a late 2xx its ACK and BYE.
    else this.finish(outcome);
  }

  private sendCancel(): void {
    if (this.cancelSent || this.answered) return;
    this.cancelSent = true;
    const invite = this.currentInvite;
    if (!invite) return;
    const cancel = requestLikeInvite(invite, 'CANCEL', getHeader(invite, 'to'));
    this.log.debug({ branch: topBranch(invite) }, 'sending CANCEL');
    void this.ctx.core.client.nonInvite(cancel, this.dest).then((res) => this.log.debug({ sipStatus: res?.status ?? null }, 'CANCEL answered'));
    // A UAS that never sends 487 (RFC 2543): after 64*T1 the INVITE counts as cancelled (§9.1).
    this.cancelTimer = setTimeout(() => {
      this.stopInvite?.();
      if (this.givenUp) this.finish(this.givenUp);
    }, 64 * this.ctx.core.timers.t1);
    this.cancelTimer.unref(); // after an early report nobody waits on it; it must not hold the process
  }

  private onResponse(res: IncomingResponse, invite: SipRequest): void {
    if (res.status < 200) {
      this.provisional = true;
      // A reliable 1xx is PRACKed; a retransmitted or out-of-order one is not processed (RFC 3262 §4).
      if (!this.done && !this.reliable.receive(res, invite)) return;
      if (res.status > 100) {
        const forwarded = this.forwarding.note(res);
        this.log.info({ sipStatus: res.status, ...(forwarded.length ? { forwarded } : {}) }, 'provisional response');
        const sdp = res.body.length > 0 ? res.body : null;
        if (!this.done) {
          try {
            this.req.onProvisional?.({ status: res.status, reason: res.reason, sdp, forwarded });
          } catch (err) {
            this.log.error({ err }, 'onProvisional handler failed');
          }
        }
      }
      if (this.givenUp) this.sendCancel();
      return;
    }
    clearTimeout(this.cancelTimer);
    if (res.status < 300) return this.on2xx(res, invite);
    if (this.done) return;
    if ((res.status === 401 || res.status === 407) && !this.givenUp && this.retryWithCredentials(res)) return;
    if (res.status === 422 && !this.givenUp && this.retryWithMinSe(res)) return;
    if (res.status === 503 && this.tryNextHop('503')) return;
    if (this.givenUp) return this.finish({ ...this.givenUp, sipStatus: res.status });
    const kind = outcomeForStatus(res.status);
    const reason =
      res.status === 401 || res.status === 407
        ? this.digest ? 'authentication rejected' : 'authentication required but no credentials configured'
        : `${res.status} ${res.reason}`.trim();
    this.finish({ kind, callId: this.callId, sipStatus: res.status, reason });
  }

  /** Same Call-ID and From tag, CSeq + 1, new branch (§22.2); one retry, a second only if the nonce was stale. */
  private retryWithCredentials(res: IncomingResponse): boolean {
    if (!this.digest || this.authTries >= 2) return false;
    const answer = this.digest.answer(res, 'INVITE', this.req.requestUri);
    if (!answer || (this.authTries === 1 && !answer.stale)) return false;
    this.authTries += 1;
    this.authHeaders = answer.headers;
    this.log.debug({ sipStatus: res.status }, 'challenged: retrying with credentials');
    this.sendInvite();
    return true;
  }

  /** 422 Session Interval Too Small (RFC 4028 §7.3): once more, with the response's Min-SE. */
  private retryWithMinSe(res: IncomingResponse): boolean {
    const raised = this.retried422 ? null : after422(res, this.timerAsk);
    if (!raised) return false;
    this.retried422 = true;
    this.timerAsk = raised;
    this.log.info({ sessionExpires: raised.seconds }, '422: retrying with a longer session interval');
    this.sendInvite();
    return true;
  }

  private on2xx(res: IncomingResponse, invite: SipRequest): void {
    const toTag = res.core.to.tag ?? '';
    const known = this.forks.get(toTag);
    if (known) return known.sendAck(); // a retransmitted 2xx: our ACK was lost (§13.2.2.4)
    const contact = getHeader(res, 'contact');
    // The answer may have come in a reliable 1xx already, and the 2xx then carries none (RFC 3262 §5).
    const remoteSdp = res.body.trim().length > 0 ? res.body : (this.reliable.answerSdp(toTag) ?? res.body);
    const media = parseAnswer(remoteSdp);
    const dialog = new SipDialog({
      core: this.ctx.core,
      log: this.log,
      callId: this.callId,
      localTag: parseNameAddr(this.fromHeader)?.tag ?? '',
      remoteTag: toTag,
      fromHeader: this.fromHeader,
      toHeader: getHeader(res, 'to') ?? '',
      localSeq: this.seq,
      remoteTarget: (contact === undefined ? null : parseNameAddr(contact))?.uri ?? invite.uri,
      routeSet: getHeaders(res, 'record-route').reverse(),
      fallbackDest: this.dest,
      // A proxy given by name is trusted at every address it resolved to, the one used included.
      trustedHops: this.ctx.outboundProxy ? this.hops : [],
      localSdp: this.req.sdpOffer,
      remoteSdp,
      media: media.ok ? (({ ok: _ok, ...negotiated }) => negotiated)(media) : null,
      inviteAuth: this.authHeaders,
      digest: this.digest,
      lastSeq: this.reliable.lastSeq,
      sessionTimer: scheduleFromResponse(res),
      remoteAllowsUpdate: allowsMethod(res, 'UPDATE'),
    });
    this.forks.set(toTag, dialog);
    dialog.sendAck();
    if (this.done || this.givenUp || this.answered) {
      // The 2xx crossed our CANCEL, came after we reported, or is a second fork: take it down.
      this.log.info({ sipStatus: res.status }, 'unwanted 2xx: ACK then BYE');
      void dialog.bye();
      if (this.givenUp) this.finish({ ...this.givenUp, sipStatus: res.status });
      return;
    }
    if (!media.ok) {
      this.log.warn({ reason: media.reason }, 'answered with unusable SDP: ACK then BYE');
      void dialog.bye();
      return this.finish(this.failed(res.status, media.reason));
    }
    this.answered = true;
    dialog.register();
    this.watchAbortWhileUp(dialog);
    const forwarded = this.forwarding.note(res);
    this.log.info({ sipStatus: res.status, codec: media.codec, ...(forwarded.length ? { forwarded } : {}) }, 'answered');
    const { ok: _ok, ...rest } = media;
    this.finish({ kind: 'answered', callId: this.callId, status: res.status, dialog, remoteSdp, media: rest, forwarded });
  }

  private watchAbortWhileUp(dialog: SipDialog): void {
    const signal = this.req.signal;
    if (!signal) return;
    const onAbort = () => void dialog.bye();
    signal.addEventListener('abort', onAbort, { once: true });
    void dialog.ended.then(() => signal.removeEventListener('abort', onAbort));
  }

  /** The UA is closing: CANCEL if that is still allowed, stop every timer, report now. */
  shutdown(): void {
    if (!this.done && this.provisional && !this.answered) {
      this.givenUp ??= this.failed(null, 'SIP user agent closed');
      this.sendCancel();
    }
    clearTimeout(this.cancelTimer);
    this.stopInvite?.();
    this.finish(this.givenUp ?? this.failed(null, 'SIP user agent closed'));
  }

  private finish(result: InviteResult): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.ringTimer);
    this.req.signal?.removeEventListener('abort', this.onAbort);
    if (result.kind !== 'answered') this.log.info({ outcome: result.kind, sipStatus: result.sipStatus, reason: result.reason }, 'not answered');
    this.resolve(result);
  }
}
