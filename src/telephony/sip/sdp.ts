import { isIP } from 'node:net';
import { randomInt } from 'node:crypto';
import sdpTransform, { type SessionDescription } from 'sdp-transform';

/**
 * SDP offer/answer for the caller side (RFC 3264): we offer G.711 µ-law and A-law plus
 * telephone-event and rtcp-mux (RFC 5761), and read from the answer which codec, which event payload
 * type, where to send RTP and RTCP, and whether RTCP shares the RTP port.
 */

export interface OfferOptions {
  /** Address the RTP socket listens on, as the phone should reach it. */
  host: string;
  port: number;
  /** Dynamic payload type offered for RFC 4733 telephone-event; 101 by convention. */
  telephoneEventPt?: number;
  /** o= session id; random when omitted. */
  sessionId?: number;
  /** o= session version; 1 when omitted (RFC 3264 §8: +1 for each changed SDP of the session). */
  sessionVersion?: number;
  /** Offer a=rtcp-mux (RFC 5761); default true. */
  rtcpMux?: boolean;
}

export type Codec = 'PCMU' | 'PCMA';

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** What media should do now: the codec, where RTP goes (and is taken from), and whether to send. */
export interface SessionMedia {
  codec: Codec;
  /** Payload type we send `codec` with. */
  payloadType: number;
  /** telephone-event's payload type, null when not negotiated (DTMF by SIP INFO only). */
  telephoneEventPt: number | null;
  /** Where RTP goes, and the only source RTP is taken from. */
  remoteHost: string;
  remotePort: number;
  /** False while the phone holds the call or answered sendonly/inactive (RFC 3264 §6.1): no RTP is sent. */
  send: boolean;
  /*
   * The RTCP and direction details below are present only when they differ from the default, so that
   * the usual media (sendrecv, RTCP on port + 1) reads as it always did.
   */
  /** False when the phone will not send (it said recvonly or inactive); absent = it sends. */
  receive?: false;
  /** Both sides said a=rtcp-mux (RFC 5761): RTCP on the RTP port; absent = not muxed. */
  rtcpMux?: true;
  /** The phone's a=rtcp (RFC 3605); absent = its RTP port + 1. */
  rtcp?: { host: string; port: number };
}

export type SdpAnswer = ({ ok: true } & SessionMedia) | { ok: false; reason: string };

export function buildOffer(opts: OfferOptions): string {
  const te = opts.telephoneEventPt ?? 101;
  const ipVer = isIP(opts.host) === 6 ? 6 : 4;
  return sdpTransform.write({
    version: 0,
    origin: { username: 'callpay', sessionId: opts.sessionId ?? randomInt(1, 2 ** 47), sessionVersion: opts.sessionVersion ?? 1, netType: 'IN', ipVer, address: opts.host },
    name: 'callpay',
    connection: { version: ipVer, ip: opts.host },
    timing: { start: 0, stop: 0 },
    media: [
      {
        type: 'audio',
        port: opts.port,
        protocol: 'RTP/AVP',
        payloads: `0 8 ${te}`,
        rtp: [
          { payload: 0, codec: 'PCMU', rate: 8000 },
          { payload: 8, codec: 'PCMA', rate: 8000 },
          { payload: te, codec: 'telephone-event', rate: 8000 },
        ],
        fmtp: [{ payload: te, config: '0-16' }],
        ptime: 20,
        direction: 'sendrecv',
        ...(opts.rtcpMux === false ? {} : { rtcpMux: 'rtcp-mux' as const }),
      },
    ],
  });
}

const STATIC: Record<number, Codec> = { 0: 'PCMU', 8: 'PCMA' };
export const MAX_SDP_BYTES = 16_384;
const DIRECTIONS = new Set<string>(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

/** A media section's direction: its own attribute, else the session's, else sendrecv (RFC 3264 §5.1). */
export function directionOf(media: { direction?: string }, session: { direction?: string }): Direction {
  const d = media.direction ?? session.direction;
  return d !== undefined && DIRECTIONS.has(d) ? (d as Direction) : 'sendrecv';
}

/** The payload types of an m= line (sdp-transform turns a single one into a number despite its typings). */
export function payloadTypes(media: { payloads?: string | number }): number[] {
  return String(media.payloads ?? '').split(/\s+/).filter((p) => /^\d{1,3}$/.test(p)).map(Number);
}

/** PCMU or PCMA at 8 kHz behind a payload type, by its rtpmap or, without one, the static assignment. */
export function g711Of(pt: number, rtpmap: ReadonlyMap<number, { codec: string; rate?: number }>): Codec | null {
  const map = rtpmap.get(pt);
  const name = map ? String(map.codec).toUpperCase() : STATIC[pt];
  return (name === 'PCMU' || name === 'PCMA') && (!map || map.rate === 8000) ? name : null;
}

export function isTelephoneEvent(pt: number, rtpmap: ReadonlyMap<number, { codec: string; rate?: number }>): boolean {
  const map = rtpmap.get(pt);
  return map !== undefined && String(map.codec).toLowerCase() === 'telephone-event' && map.rate === 8000;
}

function fail(reason: string): SdpAnswer {
  return { ok: false, reason };
}

/** Reads an SDP answer from the phone; never throws. */
export function parseAnswer(sdp: string): SdpAnswer {
  try {
    return readAnswer(sdp);
  } catch {
    return fail('SDP answer unreadable');
  }
}

function readAnswer(sdp: string): SdpAnswer {
  if (sdp.trim().length === 0) return fail('SDP answer missing');
  if (sdp.length > MAX_SDP_BYTES) return fail('SDP answer too large');
  const session: SessionDescription = sdpTransform.parse(sdp);
  const audio = session.media.find((m) => m.type === 'audio' && m.port > 0);
  if (!audio) return fail('SDP answer without an active audio stream');
  if (!/^RTP\/AVPF?$/i.test(audio.protocol)) return fail('SDP answer without a usable codec');
  if (!Number.isInteger(audio.port) || audio.port > 65535) return fail('SDP answer without a usable port');

  const payloads = payloadTypes(audio);
  const rtpmap = new Map((audio.rtp ?? []).map((r) => [r.payload, r] as const));
  let chosen: { codec: Codec; payloadType: number } | null = null;
  for (const pt of payloads) {
    const codec = g711Of(pt, rtpmap);
    if (codec) {
      chosen = { codec, payloadType: pt };
      break;
    }
  }
  if (!chosen) return fail('SDP answer without a usable codec');
  const te = payloads.find((pt) => isTelephoneEvent(pt, rtpmap));

  const ip = audio.connection?.ip ?? session.connection?.ip ?? '';
  if (isIP(ip) === 0 || ip === '0.0.0.0' || ip === '::') return fail('SDP answer without a usable address');
  const direction = directionOf(audio, session);
  const send = direction === 'sendrecv' || direction === 'recvonly';
  return { ok: true, ...chosen, telephoneEventPt: te ?? null, remoteHost: ip, remotePort: audio.port, send, ...rtcpOf(audio, session, direction) };
}

/**
 * The RTCP and direction extras of SessionMedia from one m= section (its direction already read): mux
 * when a=rtcp-mux is there (we always offer and accept it), a=rtcp when it names a usable port.
 */
export function rtcpOf(
  audio: { rtcpMux?: string; rtcp?: { port: number; address?: string }; connection?: { ip: string } },
  session: { connection?: { ip: string } },
  direction: Direction,
): Pick<SessionMedia, 'receive' | 'rtcpMux' | 'rtcp'> {
  const out: Pick<SessionMedia, 'receive' | 'rtcpMux' | 'rtcp'> = {};
  if (direction === 'recvonly' || direction === 'inactive') out.receive = false;
  if (audio.rtcpMux === 'rtcp-mux') out.rtcpMux = true;
  const port = audio.rtcp?.port;
  const host = audio.rtcp?.address ?? audio.connection?.ip ?? session.connection?.ip ?? '';
  if (!out.rtcpMux && Number.isInteger(port) && port! >= 1 && port! <= 65535 && isIP(host) !== 0 && host !== '0.0.0.0' && host !== '::') {
    out.rtcp = { host, port: port! };
  }
  return out;
}
