import { randomBytes } from 'node:crypto';

/** RFC 3550 §5.1 fixed header. */
export interface RtpHeader {
  padding: boolean;
  marker: boolean;
  payloadType: number;
  /** 16 bits. */
  sequence: number;
  /** 32 bits, unsigned. */
  timestamp: number;
  /** 32 bits, unsigned. */
  ssrc: number;
  csrcs: number[];
  extension: { profile: number; data: Uint8Array } | null;
}

export interface RtpPacket {
  header: RtpHeader;
  /** Payload without padding; a view into the input. */
  payload: Uint8Array;
}

export type RtpParseFailure =
  | 'too_short'
  | 'bad_version'
  | 'csrc_beyond_end'
  | 'extension_beyond_end'
  | 'bad_padding';

export type RtpParseResult = { ok: true; packet: RtpPacket } | { ok: false; reason: RtpParseFailure };

export const RTP_HEADER_BYTES = 12;

/** Parses untrusted bytes. Never throws: every malformed packet is a `{ ok: false, reason }` value. */
export function parseRtp(buf: Uint8Array): RtpParseResult {
  if (buf.length < RTP_HEADER_BYTES) return { ok: false, reason: 'too_short' };
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  if (b0 >> 6 !== 2) return { ok: false, reason: 'bad_version' };
  const padding = (b0 & 0x20) !== 0;
  const hasExtension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;
  let at = RTP_HEADER_BYTES;
  if (at + 4 * csrcCount > buf.length) return { ok: false, reason: 'csrc_beyond_end' };
  const csrcs: number[] = [];
  for (let i = 0; i < csrcCount; i++, at += 4) csrcs.push(u32(buf, at));
  let extension: RtpHeader['extension'] = null;
  if (hasExtension) {
    if (at + 4 > buf.length) return { ok: false, reason: 'extension_beyond_end' };
    const profile = (buf[at]! << 8) | buf[at + 1]!;
    const words = (buf[at + 2]! << 8) | buf[at + 3]!;
    at += 4;
    if (at + 4 * words > buf.length) return { ok: false, reason: 'extension_beyond_end' };
    extension = { profile, data: buf.subarray(at, at + 4 * words) };
    at += 4 * words;
  }
  let end = buf.length;
  if (padding) {
    // The last octet counts the padding, itself included (RFC 3550 §5.1).
    const pad = buf[buf.length - 1]!;
    if (pad === 0 || end - pad < at) return { ok: false, reason: 'bad_padding' };
    end -= pad;
  }
  return {
    ok: true,
    packet: {
      header: {
        padding,
        marker: (b1 & 0x80) !== 0,
        payloadType: b1 & 0x7f,
        sequence: (buf[2]! << 8) | buf[3]!,
        timestamp: u32(buf, 4),
        ssrc: u32(buf, 8),
        csrcs,
        extension,
      },
      payload: buf.subarray(at, end),
    },
  };
}

export interface RtpHeaderInit {
  marker: boolean;
  payloadType: number;
  sequence: number;
  timestamp: number;
  ssrc: number;
  csrcs?: readonly number[];
  extension?: { profile: number; data: Uint8Array } | null;
  /** Padding octets to append (0..255); the count goes in the last octet. */
  paddingBytes?: number;
}

/** Builds a packet into a new Buffer (Buffer so dgram can send it without another copy). */
export function buildRtp(h: RtpHeaderInit, payload: Uint8Array): Buffer {
  const csrcs = h.csrcs ?? [];
  const ext = h.extension ?? null;
  const pad = h.paddingBytes ?? 0;
  if (csrcs.length > 15) throw new RangeError('at most 15 CSRCs');
  if (ext && ext.data.length % 4 !== 0) throw new RangeError('extension data must be whole 32-bit words');
  if (pad < 0 || pad > 255) throw new RangeError('padding is 0..255 octets');
  const headerBytes = RTP_HEADER_BYTES + 4 * csrcs.length + (ext ? 4 + ext.data.length : 0);
  const out = Buffer.allocUnsafe(headerBytes + payload.length + pad);
  out[0] = 0x80 | (pad > 0 ? 0x20 : 0) | (ext ? 0x10 : 0) | csrcs.length;
  out[1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  out.writeUInt16BE(h.sequence & 0xffff, 2);
  out.writeUInt32BE(h.timestamp >>> 0, 4);
  out.writeUInt32BE(h.ssrc >>> 0, 8);
  let at = RTP_HEADER_BYTES;
  for (const c of csrcs) {
    out.writeUInt32BE(c >>> 0, at);
    at += 4;
  }
  if (ext) {
    out.writeUInt16BE(ext.profile & 0xffff, at);
    out.writeUInt16BE(ext.data.length / 4, at + 2);
    out.set(ext.data, at + 4);
    at += 4 + ext.data.length;
  }
  out.set(payload, at);
  at += payload.length;
  if (pad > 0) {
    out.fill(0, at, at + pad - 1);
    out[at + pad - 1] = pad;
  }
  return out;
}

/**
 * One outgoing RTP stream (RFC 3550 §5.1): random initial sequence number, timestamp and SSRC;
 * sequence wraps at 2^16, timestamp at 2^32. The marker goes on the first packet of a talkspurt:
 * the first packet of the stream and the first after `skip()` (a gap the receiver must resync to).
 */
export class RtpSender {
  readonly ssrc: number;
  private sequence: number;
  private timestamp: number;
  private marker = true;
  private readonly payloadType: number;

  constructor(opts: { payloadType: number; ssrc?: number; sequence?: number; timestamp?: number }) {
    const r = randomBytes(10);
    this.payloadType = opts.payloadType;
    this.ssrc = opts.ssrc ?? r.readUInt32BE(0);
    this.sequence = opts.sequence ?? r.readUInt16BE(4);
    this.timestamp = opts.timestamp ?? r.readUInt32BE(6);
  }

  /** The next packet carrying `payload`, which covers `samples` sampling periods. */
  next(payload: Uint8Array, samples: number): Buffer {
    const packet = buildRtp(
      { marker: this.marker, payloadType: this.payloadType, sequence: this.sequence, timestamp: this.timestamp, ssrc: this.ssrc },
      payload,
    );
    this.marker = false;
    this.sequence = (this.sequence + 1) & 0xffff;
    this.timestamp = (this.timestamp + samples) >>> 0;
    return packet;
  }

  /** Frames that were never sent: time moves on, the sequence does not (no packet was lost). */
  skip(samples: number): void {
    this.timestamp = (this.timestamp + samples) >>> 0;
    this.marker = true;
  }

  /** Starts a new talkspurt after a pause in transmission. */
  markTalkspurt(): void {
    this.marker = true;
  }

  get nextSequence(): number {
    return this.sequence;
  }

  get nextTimestamp(): number {
    return this.timestamp;
  }
}

function u32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}
