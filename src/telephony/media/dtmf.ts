import type { Digit } from '../engine.js';
import { parseRtp } from './rtp.js';

/** RFC 4733 §3.2 event codes 0-15, in order. */
export const DTMF_EVENTS = '0123456789*#ABCD';

/** The part of a pino logger the media code uses (the worker passes a forwarding stand-in). */
export interface MediaLog {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface Endpoint {
  address: string;
  port: number;
}

export type IgnoredReason = 'malformed' | 'source' | 'payload_type' | 'truncated_event' | 'event_code';

/** What one received RTP packet amounted to. */
export type RtpInput =
  | { kind: 'digit'; digit: Digit }
  /** A telephone-event packet of an event already reported (updates, the repeated end packets). */
  | { kind: 'dtmf' }
  | { kind: 'audio' }
  | { kind: 'ignored'; reason: IgnoredReason };

export interface DtmfReceiverOptions {
  /** Where the peer's RTP must come from (the address and port of its SDP); null = the caller checks sources (the media worker's latch.ts). */
  remote: Endpoint | null;
  audioPayloadType: number;
  /** null when the peer did not offer telephone-event (digits then come by SIP INFO only). */
  telephoneEventPt: number | null;
  log: MediaLog;
}

interface Event {
  ssrc: number;
  timestamp: number;
  code: number;
  ended: boolean;
  duration: number;
}

const RECENT_EVENTS = 16;
const DEBUG_LOGS_PER_REASON = 5;
/** A segment of a long event (RFC 4733 §2.5.1.3) starts when the previous one's duration nears 0xFFFF. */
const SEGMENT_NEAR_FULL = 0xffff - 8000;

/**
 * RFC 4733 telephone-event receiver. Each event (one RTP timestamp of one SSRC) yields its digit once,
 * on the first packet seen for it, whether a start, an update or an end packet: lost start or end
 * packets then cost nothing and no timeout is needed, the three repeated end packets and any late
 * duplicate (remembered for the last 16 events) add nothing, and the same key pressed twice makes two
 * events with two timestamps, hence two digits. Segments of one very long press (> 8 s, §2.5.1.3)
 * are recognised and count once.
 */
export class DtmfReceiver {
  private current: Event | null = null;
  private readonly recent: string[] = [];
  private readonly warned = new Set<IgnoredReason>();
  private readonly debugged = new Map<IgnoredReason, number>();
  readonly ignored: Record<IgnoredReason, number> = {
    malformed: 0,
    source: 0,
    payload_type: 0,
    truncated_event: 0,
    event_code: 0,
  };

  /**
   * `previous`: the receiver this one replaces after a re-INVITE; the event in progress and the recent
   * ones carry over, so the rest of a key press that straddles the change is not a second digit.
   */
  constructor(
    private readonly opts: DtmfReceiverOptions,
    previous?: DtmfReceiver,
  ) {
    if (previous) {
      this.current = previous.current;
      this.recent.push(...previous.recent);
    }
  }

  receive(packet: Uint8Array, from: Endpoint): RtpInput {
    const { remote, audioPayloadType, telephoneEventPt } = this.opts;
    if (remote && !sameEndpoint(from, remote)) {
      return this.ignore('source', 'warn', { from: `${from.address}:${from.port}` }, 'RTP from an unexpected source ignored');
    }
    const parsed = parseRtp(packet);
    if (!parsed.ok) return this.ignore('malformed', 'debug', { why: parsed.reason, bytes: packet.length }, 'malformed RTP ignored');
    const { header, payload } = parsed.packet;
    if (header.payloadType === audioPayloadType) return { kind: 'audio' };
    if (telephoneEventPt === null || header.payloadType !== telephoneEventPt) {
      return this.ignore('payload_type', 'warn', { payloadType: header.payloadType }, 'RTP with an unnegotiated payload type ignored');
    }
    if (payload.length < 4) {
      return this.ignore('truncated_event', 'debug', { bytes: payload.length }, 'truncated telephone-event ignored');
    }
    const code = payload[0]!;
    const digit = DTMF_EVENTS[code] as Digit | undefined;
    if (digit === undefined) return this.ignore('event_code', 'debug', { event: code }, 'telephone-event code > 15 ignored');
    const ended = (payload[1]! & 0x80) !== 0;
    const duration = (payload[2]! << 8) | payload[3]!;
    const { ssrc, timestamp } = header;

    const cur = this.current;
    if (cur && cur.ssrc === ssrc && cur.timestamp === timestamp) {
      cur.ended ||= ended;
      cur.duration = Math.max(cur.duration, duration);
      return { kind: 'dtmf' };
    }
    const key = `${ssrc}:${timestamp}`;
    if (this.recent.includes(key)) return { kind: 'dtmf' }; // a late packet of an earlier event
    this.remember(key);
    const next: Event = { ssrc, timestamp, code, ended, duration };
    if (cur && !cur.ended && cur.ssrc === ssrc && cur.code === code && !header.marker && cur.duration >= SEGMENT_NEAR_FULL) {
      const ahead = (timestamp - cur.timestamp) >>> 0;
      if (ahead > 0 && ahead <= 0x20000) {
        this.current = next; // the next segment of the same long press
        return { kind: 'dtmf' };
      }
    }
    this.current = next;
    return { kind: 'digit', digit };
  }

  private remember(key: string): void {
    this.recent.push(key);
    if (this.recent.length > RECENT_EVENTS) this.recent.shift();
  }

  private ignore(reason: IgnoredReason, level: 'warn' | 'debug', fields: object, msg: string): RtpInput {
    this.ignored[reason]++;
    if (level === 'warn') {
      if (!this.warned.has(reason)) {
        this.warned.add(reason);
        this.opts.log.warn({ ...fields, reason }, `${msg} (logged once per call)`);
      }
    } else {
      const n = this.debugged.get(reason) ?? 0;
      if (n < DEBUG_LOGS_PER_REASON) {
        this.debugged.set(reason, n + 1);
        this.opts.log.debug({ ...fields, reason }, msg);
      }
    }
    return { kind: 'ignored', reason };
  }
}

/** RFC 4733 payload of one telephone-event packet (for tests and tools; we never send DTMF). */
export function telephoneEventPayload(event: number, end: boolean, volume: number, duration: number): Uint8Array {
  return Uint8Array.of(event & 0xff, (end ? 0x80 : 0) | (volume & 0x3f), (duration >> 8) & 0xff, duration & 0xff);
}

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && normalize(a.address) === normalize(b.address);
}

/** `::ffff:192.0.2.1` (an IPv4 peer seen on a dual-stack socket) is `192.0.2.1`. */
function normalize(address: string): string {
  const a = address.toLowerCase();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
