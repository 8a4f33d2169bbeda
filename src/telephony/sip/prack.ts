import type { Logger } from '../../log.js';
import type { DigestAnswerer } from './auth.js';
import { localFor, newBranch, viaHeader, type SipCore } from './core.js';
import { nextHop } from './dialog.js';
import { parseNameAddr, type HostPort } from './headers.js';
import { getHeader, getHeaders, headerList, type IncomingResponse, type SipRequest } from './message.js';
import { hasOptionTag } from './session-timer.js';

/**
 * Reliable provisional responses on the caller side (RFC 3262 §4). A 1xx (not 100) whose Require lists
 * 100rel and that carries an RSeq is acknowledged with a PRACK, sent in its early dialog (To tag,
 * Record-Route and Contact of the 1xx). Per early dialog, the first reliable 1xx sets the sequence;
 * afterwards only RSeq = last + 1 is acknowledged and processed: a retransmission (same RSeq, our PRACK
 * transaction retransmits by itself) or an out-of-order one is dropped (§4). A 1xx with an unreadable
 * RSeq is taken as an ordinary, unreliable one. SDP in a reliable 1xx is the answer to our INVITE's
 * offer (§5): kept for a 2xx that carries none, never answered; media still starts on the 2xx.
 */

/** Early dialogs (forks) tracked, and PRACKs sent, per INVITE; beyond, 1xx are dropped (a bound against floods). */
const MAX_EARLY_DIALOGS = 16;
const MAX_PRACKS = 64;

/** An RSeq value: 1 to 2^31 - 1 (§7.1); null for anything else. */
export function parseRSeq(value: string | undefined): number | null {
  if (value === undefined || !/^\s*\d{1,10}\s*$/.test(value)) return null;
  const n = Number(value);
  return n >= 1 && n <= 2 ** 31 - 1 ? n : null;
}

export type ReliableDecision =
  | { kind: 'unreliable' }
  /** Acknowledge with this RSeq, then process. */
  | { kind: 'prack'; rseq: number }
  /** A retransmission or out of order: neither acknowledged nor processed. */
  | { kind: 'drop'; reason: string };

interface EarlyDialog {
  lastRSeq: number;
  answerSdp: string | null;
}

export interface PrackContext {
  core: SipCore;
  log: Logger;
  callId: string;
  fromHeader: string;
  /** Where the INVITE went: the PRACK's next hop when the 1xx names no usable target. */
  fallbackDest: () => HostPort;
  digest: DigestAnswerer | null;
}

export class ReliableProvisionals {
  private early = new Map<string, EarlyDialog>();
  private pracks = 0;
  /** The highest CSeq number a PRACK of ours used: the dialog's requests continue after it. */
  private seq = 0;

  constructor(private readonly ctx: PrackContext) {}

  get lastSeq(): number {
    return this.seq;
  }

  /** A new INVITE (digest or 422 retry) starts a new RSeq space (§4: per initial request). */
  reset(inviteSeq: number): void {
    this.early = new Map();
    this.pracks = 0;
    this.seq = Math.max(this.seq, inviteSeq);
  }

  /** Decides for one provisional response to our INVITE (§4); updates the sequence when it is acknowledged. */
  decide(res: IncomingResponse): ReliableDecision {
    if (res.status === 100 || res.status >= 200 || !hasOptionTag(res, 'require', '100rel')) return { kind: 'unreliable' };
    const rseq = parseRSeq(getHeader(res, 'rseq'));
    const tag = res.core.to.tag;
    if (rseq === null || !tag) {
      this.ctx.log.debug({ sipStatus: res.status }, 'reliable provisional response without a usable RSeq or To tag: taken as unreliable');
      return { kind: 'unreliable' };
    }
    if (this.pracks >= MAX_PRACKS) return { kind: 'drop', reason: 'too many reliable provisional responses' };
    const known = this.early.get(tag);
    if (!known) {
      if (this.early.size >= MAX_EARLY_DIALOGS) return { kind: 'drop', reason: 'too many early dialogs' };
      this.early.set(tag, { lastRSeq: rseq, answerSdp: null });
      this.pracks += 1;
      return { kind: 'prack', rseq };
    }
    if (rseq === known.lastRSeq + 1) {
      known.lastRSeq = rseq;
      this.pracks += 1;
      return { kind: 'prack', rseq };
    }
    return { kind: 'drop', reason: rseq === known.lastRSeq ? 'retransmission' : 'out of order' };
  }

  /**
   * Handles a provisional response: PRACKs it when reliable. Returns false when it must not be
   * processed further (a retransmission or out of order).
   */
  receive(res: IncomingResponse, invite: SipRequest): boolean {
    const decision = this.decide(res);
    if (decision.kind === 'unreliable') return true;
    if (decision.kind === 'drop') {
      this.ctx.log.debug({ sipStatus: res.status, reason: decision.reason }, 'reliable provisional response not acknowledged');
      return false;
    }
    const tag = res.core.to.tag ?? '';
    const early = this.early.get(tag);
    if (early && res.body.trim().length > 0 && early.answerSdp === null) early.answerSdp = res.body;
    this.sendPrack(res, invite, decision.rseq).catch((err: unknown) => this.ctx.log.error({ err }, 'PRACK failed'));
    return true;
  }

  /** The SDP answer a reliable 1xx of this early dialog brought, if any. */
  answerSdp(toTag: string): string | null {
    return this.early.get(toTag)?.answerSdp ?? null;
  }

  private prack(res: IncomingResponse, invite: SipRequest, rseq: number, auth: Array<[string, string]>) {
    const { core } = this.ctx;
    const contact = getHeader(res, 'contact');
    const target = (contact === undefined ? null : parseNameAddr(contact))?.uri ?? invite.uri;
    const hop = nextHop(getHeaders(res, 'record-route').reverse(), target, this.ctx.fallbackDest());
    const request: SipRequest = {
      type: 'request',
      method: 'PRACK',
      uri: hop.uri,
      headers: [
        ...headerList([
          ['via', viaHeader(localFor(core, hop.dest.transport), newBranch(), hop.dest.transport)],
          ['max-forwards', '70'],
          ['from', this.ctx.fromHeader],
          ['to', getHeader(res, 'to')],
          ['call-id', this.ctx.callId],
          ['cseq', `${++this.seq} PRACK`],
        ]),
        ...hop.routes.map((value) => ({ name: 'route', value })),
        ...headerList([['rack', `${rseq} ${res.core.cseq.seq} ${res.core.cseq.method}`], ['user-agent', core.userAgent], ...auth]),
      ],
      body: '',
    };
    return { request, hop };
  }

  /** The PRACK's answer is logged, not waited for: the call goes on whatever it says (a challenge gets one retry). */
  private async sendPrack(res: IncomingResponse, invite: SipRequest, rseq: number): Promise<void> {
    const { core, log, digest } = this.ctx;
    let { request, hop } = this.prack(res, invite, rseq, []);
    log.debug({ rseq, sipStatus: res.status }, 'sending PRACK');
    let answer = await core.client.nonInvite(request, hop.dest);
    if (answer && (answer.status === 401 || answer.status === 407) && digest) {
      const auth = digest.answer(answer, 'PRACK', hop.uri);
      if (auth) {
        ({ request, hop } = this.prack(res, invite, rseq, auth.headers));
        answer = await core.client.nonInvite(request, hop.dest);
      }
    }
    log.debug({ rseq, sipStatus: answer?.status ?? null }, answer ? 'PRACK answered' : 'PRACK not answered (timer F)');
  }
}
