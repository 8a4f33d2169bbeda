import { isIP } from 'node:net';
import sdpTransform, { type MediaDescription, type SessionDescription } from 'sdp-transform';
import { buildOffer, directionOf, g711Of, isTelephoneEvent, MAX_SDP_BYTES, parseAnswer, payloadTypes, rtcpOf, type Codec, type Direction, type SessionMedia } from './sdp.js';

export type { SessionMedia };

/**
 * The offer/answer state of one call after it is answered (RFC 3264 §8, RFC 6337): the phone may
 * re-offer (re-INVITE) to hold, resume, move its media or change codecs, and each such offer gets an
 * answer computed from it, never a replay of an earlier SDP:
 *
 * - direction (§6.1): sendonly is answered recvonly, recvonly sendonly, inactive inactive, sendrecv (or
 *   no attribute) sendrecv. A connection address of 0.0.0.0 (RFC 2543 hold, §8.4) means "send nothing
 *   to me": we then answer without sending and keep the previous address for the media filter.
 * - codecs (§6.1): the offer's G.711 formats we support, in the offer's order and with its payload
 *   type numbers; telephone-event with the offer's payload type and the events both sides know. We send
 *   the first of them. An offer without any gets a rejection (488) and the session stays as it was.
 * - streams: as many m= lines as offered, in order; only the first usable audio stream is accepted,
 *   every other one is rejected with port 0 (§6).
 * - o= line (§8): same user name, session id and address as our previous SDP; the version goes up by
 *   one when the SDP changes and stays when it does not.
 * - RTCP: a=rtcp-mux offered is accepted (RFC 5761 §5.1.1), else RTCP goes to the offer's a=rtcp or
 *   its RTP port + 1.
 */

export type OfferOutcome =
  | { ok: true; answer: string; media: SessionMedia; direction: Direction }
  | { ok: false; reason: string };

export type AnswerOutcome = { ok: true; media: SessionMedia } | { ok: false; reason: string };

const ANSWERING: Record<Direction, Direction> = { sendrecv: 'sendrecv', sendonly: 'recvonly', recvonly: 'sendonly', inactive: 'inactive' };
/** Without the ability to send (c=0.0.0.0), a direction loses its sending half. */
const NOT_SENDING: Record<Direction, Direction> = { sendrecv: 'recvonly', sendonly: 'inactive', recvonly: 'recvonly', inactive: 'inactive' };
/** RFC 4733 events we understand: the 16 DTMF keys, and flash (16) which is accepted and ignored. */
const OUR_EVENTS = 16;

interface LocalSdp {
  username: string;
  sessionId: number;
  version: number;
  host: string;
  port: number;
  /** Whether our first offer had a=rtcp-mux: a later offer of ours repeats it. */
  rtcpMux: boolean;
  sdp: string;
}

interface Chosen {
  index: number;
  codecs: Array<{ pt: number; codec: Codec }>;
  te: { pt: number; events: string } | null;
  host: string;
  port: number;
  direction: Direction;
}

export class OfferAnswer {
  private local: LocalSdp;
  private current: SessionMedia;

  /** `localOffer`: the SDP of our INVITE; `media`: what its answer negotiated. */
  constructor(localOffer: string, media: SessionMedia) {
    const own = sdpTransform.parse(localOffer);
    const audio = own.media.find((m) => m.type === 'audio');
    this.local = {
      username: own.origin?.username ?? 'callpay',
      sessionId: Number(own.origin?.sessionId ?? 1),
      version: Number(own.origin?.sessionVersion ?? 1),
      host: own.connection?.ip ?? audio?.connection?.ip ?? '127.0.0.1',
      port: audio?.port ?? 0,
      rtcpMux: audio?.rtcpMux === 'rtcp-mux',
      sdp: localOffer,
    };
    this.current = { ...media };
  }

  get media(): SessionMedia {
    return { ...this.current };
  }

  /** Our current SDP as last sent, same o= version: the offer of a session-refresh re-INVITE (RFC 4028 §7.4, §8 here). */
  get localSdp(): string {
    return this.local.sdp;
  }

  /** Answers a re-offer and, when it is acceptable, makes its media current. Never throws. */
  answer(offer: string): OfferOutcome {
    let session: SessionDescription;
    try {
      if (offer.length > MAX_SDP_BYTES) return { ok: false, reason: 'SDP offer too large' };
      session = sdpTransform.parse(offer);
    } catch {
      return { ok: false, reason: 'SDP offer unreadable' };
    }
    const offered = Array.isArray(session.media) ? session.media : [];
    const chosen = this.choose(session, offered);
    if (!chosen) return { ok: false, reason: 'no audio stream with a codec in common' };

    const held = chosen.host === '0.0.0.0' || chosen.host === '::';
    const direction = held ? NOT_SENDING[ANSWERING[chosen.direction]] : ANSWERING[chosen.direction];
    const first = chosen.codecs[0]!;
    const extras = rtcpOf(offered[chosen.index]!, session, chosen.direction);
    if (held) {
      // "Send nothing to me": RTCP keeps going where it went, as RTP's address is kept.
      delete extras.rtcp;
      if (this.current.rtcp) extras.rtcp = this.current.rtcp;
    }
    const media: SessionMedia = {
      codec: first.codec,
      payloadType: first.pt,
      telephoneEventPt: chosen.te?.pt ?? null,
      remoteHost: held ? this.current.remoteHost : chosen.host,
      remotePort: held ? this.current.remotePort : chosen.port,
      send: direction === 'sendrecv' || direction === 'sendonly',
      ...extras,
    };
    const answer = this.emit((version) => this.write(version, offered.map((m, i) => (i === chosen.index ? this.accepted(m, chosen, direction) : rejected(m)))));
    this.current = media;
    return { ok: true, answer, media: { ...media }, direction };
  }

  /** Our offer for a re-INVITE that carried none (RFC 3261 §14.2): everything we support, sendrecv. */
  offer(): string {
    return this.emit((version) => buildOffer({ host: this.local.host, port: this.local.port, sessionId: this.local.sessionId, sessionVersion: version, rtcpMux: this.local.rtcpMux }));
  }

  /** The phone's answer to `offer()`, from its ACK; on success it becomes the current media. */
  acceptAnswer(sdp: string): AnswerOutcome {
    const a = parseAnswer(sdp);
    if (!a.ok) return a;
    const { ok: _ok, ...media } = a;
    this.current = media;
    return { ok: true, media: { ...this.current } };
  }

  /** The first audio stream with an address and a codec in common. */
  private choose(session: SessionDescription, offered: MediaDescription[]): Chosen | null {
    for (const [index, m] of offered.entries()) {
      if (m.type !== 'audio' || !Number.isInteger(m.port) || m.port < 1 || m.port > 65535) continue;
      if (!/^RTP\/AVPF?$/i.test(String(m.protocol))) continue;
      const host = m.connection?.ip ?? session.connection?.ip ?? '';
      if (isIP(host) === 0) continue;
      const rtpmap = new Map((m.rtp ?? []).map((r) => [r.payload, r] as const));
      const pts = payloadTypes(m);
      const codecs = pts.flatMap((pt) => {
        const codec = g711Of(pt, rtpmap);
        return codec ? [{ pt, codec }] : [];
      });
      if (codecs.length === 0) continue;
      const tePt = pts.find((pt) => isTelephoneEvent(pt, rtpmap));
      const events = tePt === undefined ? '' : commonEvents((m.fmtp ?? []).find((f) => f.payload === tePt)?.config);
      return { index, codecs, te: tePt !== undefined && events ? { pt: tePt, events } : null, host, port: m.port, direction: directionOf(m, session) };
    }
    return null;
  }

  private accepted(m: MediaDescription, chosen: Chosen, direction: Direction): MediaDescription {
    const pts = [...chosen.codecs.map((c) => c.pt), ...(chosen.te ? [chosen.te.pt] : [])];
    return {
      type: 'audio',
      port: this.local.port,
      protocol: String(m.protocol),
      payloads: pts.join(' '),
      rtp: [
        ...chosen.codecs.map((c) => ({ payload: c.pt, codec: c.codec, rate: 8000 })),
        ...(chosen.te ? [{ payload: chosen.te.pt, codec: 'telephone-event', rate: 8000 }] : []),
      ],
      fmtp: chosen.te ? [{ payload: chosen.te.pt, config: chosen.te.events }] : [],
      ptime: 20,
      direction,
      ...(m.rtcpMux === 'rtcp-mux' ? { rtcpMux: 'rtcp-mux' as const } : {}),
    };
  }

  private write(version: number, media: MediaDescription[]): string {
    const ipVer = isIP(this.local.host) === 6 ? 6 : 4;
    return sdpTransform.write({
      version: 0,
      origin: { username: this.local.username, sessionId: this.local.sessionId, sessionVersion: version, netType: 'IN', ipVer, address: this.local.host },
      name: 'callpay',
      connection: { version: ipVer, ip: this.local.host },
      timing: { start: 0, stop: 0 },
      media,
    });
  }

  /** The SDP built for our current version if it is unchanged, else for the next version (§8). */
  private emit(build: (version: number) => string): string {
    const same = build(this.local.version);
    if (same === this.local.sdp) return same;
    this.local.version += 1;
    this.local.sdp = build(this.local.version);
    return this.local.sdp;
  }
}

/** A stream we do not take: port 0, its type, protocol and formats as offered (§6), made safe to echo. */
function rejected(m: MediaDescription): MediaDescription {
  const token = (v: unknown, fallback: string) => {
    const s = String(v ?? '').replace(/[^\w./+ -]/g, '').trim();
    return s.length > 0 && s.length <= 256 ? s : fallback;
  };
  return { type: token(m.type, 'audio'), port: 0, protocol: token(m.protocol, 'RTP/AVP'), payloads: token(m.payloads, '0'), rtp: [], fmtp: [] };
}

/**
 * The telephone-events both sides know, as an fmtp list ("0-15"), from the offer's list (RFC 4733
 * §7.1.1: none given means 0-15). Empty when nothing is in common.
 */
export function commonEvents(config: string | undefined): string {
  const offered = new Set<number>();
  for (const part of (config ?? '0-15').split(',')) {
    const m = /^\s*(\d{1,3})(?:\s*-\s*(\d{1,3}))?\s*$/.exec(part);
    if (!m) continue;
    const from = Number(m[1]);
    const to = Math.min(Number(m[2] ?? m[1]), OUR_EVENTS);
    for (let e = from; e <= to; e++) offered.add(e);
  }
  const ranges: string[] = [];
  for (let e = 0; e <= OUR_EVENTS; e++) {
    if (!offered.has(e) || offered.has(e - 1)) continue;
    let end = e;
    while (offered.has(end + 1)) end++;
    ranges.push(end === e ? String(e) : `${e}-${end}`);
  }
  return ranges.join(',');
}
