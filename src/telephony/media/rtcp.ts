/**
 * RTCP packets (RFC 3550 §6.4-6.6): encoding of the compound packets we send (SR or RR, SDES CNAME,
 * BYE) and a parser for the ones the phone sends. What arrives is untrusted: the parser checks the
 * header validity rules of RFC 3550 Appendix A.2 and returns a value for every input, never throws.
 */

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;
const SDES_CNAME = 1;

/** One reception report block (RFC 3550 §6.4.1): what we heard of one source. */
export interface ReportBlock {
  ssrc: number;
  /** Fraction of packets lost since the previous report, in 1/256 (0..255). */
  fractionLost: number;
  /** Packets lost since the start, 24-bit signed (duplicates can make it negative). */
  cumulativeLost: number;
  /** Cycles of the sequence number in the high 16 bits, the highest sequence number seen in the low. */
  highestSeq: number;
  /** Interarrival jitter in timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR from that source; 0 if none. */
  lsr: number;
  /** Delay since that SR, in 1/65536 s; 0 if none. */
  dlsr: number;
}

export interface SenderInfo {
  /** 64-bit NTP timestamp: whole seconds since 1900 and the fraction in 1/2^32 s. */
  ntpSeconds: number;
  ntpFraction: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

export type RtcpPacket =
  | { type: 'sr'; ssrc: number; sender: SenderInfo; reports: ReportBlock[] }
  | { type: 'rr'; ssrc: number; reports: ReportBlock[] }
  | { type: 'sdes'; chunks: Array<{ ssrc: number; cname: string | null }> }
  | { type: 'bye'; ssrcs: number[]; reason: string | null }
  /** APP, XR, feedback...: valid, skipped. */
  | { type: 'other'; packetType: number };

export type RtcpParseFailure = 'too_short' | 'bad_version' | 'bad_length' | 'not_sr_or_rr_first' | 'bad_padding' | 'bad_body';

export type RtcpParseResult = { ok: true; packets: RtcpPacket[] } | { ok: false; reason: RtcpParseFailure };

/**
 * RFC 5761 §4: on a port shared by RTP and RTCP, a packet whose second octet (RTP's marker and payload
 * type) is 192..223 is RTCP: RTP payload types 64-95 are never used there.
 */
export function looksLikeRtcp(buf: Uint8Array): boolean {
  if (buf.length < 8 || buf[0]! >> 6 !== 2) return false;
  const pt = buf[1]! & 0x7f;
  return pt >= 64 && pt <= 95;
}

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_UNIX_OFFSET = 2_208_988_800;

/** Wall-clock milliseconds since 1970 as a 64-bit NTP timestamp. */
export function ntpFromUnixMs(ms: number): { seconds: number; fraction: number } {
  const whole = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - whole * 1000) / 1000) * 2 ** 32);
  return { seconds: (whole + NTP_UNIX_OFFSET) >>> 0, fraction: Math.min(fraction, 2 ** 32 - 1) >>> 0 };
}

/** The middle 32 bits of an NTP timestamp: what LSR carries (RFC 3550 §6.4.1). */
export function ntpMiddle(seconds: number, fraction: number): number {
  return (((seconds & 0xffff) << 16) | (fraction >>> 16)) >>> 0;
}

// ---- encoding ----

function header(buf: Buffer, count: number, packetType: number, padding = false): void {
  buf[0] = 0x80 | (padding ? 0x20 : 0) | (count & 0x1f);
  buf[1] = packetType;
  buf.writeUInt16BE(buf.length / 4 - 1, 2);
}

function writeReport(buf: Buffer, at: number, r: ReportBlock): void {
  buf.writeUInt32BE(r.ssrc >>> 0, at);
  const lost = Math.max(-0x800000, Math.min(0x7fffff, Math.trunc(r.cumulativeLost)));
  buf.writeUInt32BE((((r.fractionLost & 0xff) << 24) | (lost & 0xffffff)) >>> 0, at + 4);
  buf.writeUInt32BE(r.highestSeq >>> 0, at + 8);
  buf.writeUInt32BE(Math.max(0, Math.min(0xffffffff, Math.floor(r.jitter))) >>> 0, at + 12);
  buf.writeUInt32BE(r.lsr >>> 0, at + 16);
  buf.writeUInt32BE(Math.max(0, Math.min(0xffffffff, Math.floor(r.dlsr))) >>> 0, at + 20);
}

export function encodeSr(ssrc: number, s: SenderInfo, reports: readonly ReportBlock[]): Buffer {
  if (reports.length > 31) throw new RangeError('at most 31 report blocks');
  const buf = Buffer.alloc(28 + 24 * reports.length);
  header(buf, reports.length, RTCP_SR);
  buf.writeUInt32BE(ssrc >>> 0, 4);
  buf.writeUInt32BE(s.ntpSeconds >>> 0, 8);
  buf.writeUInt32BE(s.ntpFraction >>> 0, 12);
  buf.writeUInt32BE(s.rtpTimestamp >>> 0, 16);
  buf.writeUInt32BE(s.packetCount >>> 0, 20);
  buf.writeUInt32BE(s.octetCount >>> 0, 24);
  reports.forEach((r, i) => writeReport(buf, 28 + 24 * i, r));
  return buf;
}

export function encodeRr(ssrc: number, reports: readonly ReportBlock[]): Buffer {
  if (reports.length > 31) throw new RangeError('at most 31 report blocks');
  const buf = Buffer.alloc(8 + 24 * reports.length);
  header(buf, reports.length, RTCP_RR);
  buf.writeUInt32BE(ssrc >>> 0, 4);
  reports.forEach((r, i) => writeReport(buf, 8 + 24 * i, r));
  return buf;
}

/** One chunk with a CNAME item (the only SDES item RFC 3550 requires), ending with null octets to a word boundary. */
export function encodeSdesCname(ssrc: number, cname: string): Buffer {
  const text = Buffer.from(cname, 'utf8');
  if (text.length > 255) throw new RangeError('CNAME is at most 255 octets');
  // SSRC + type + length + text + at least one null octet, padded to 32 bits.
  const chunk = 4 + 2 + text.length;
  const buf = Buffer.alloc(4 + (Math.floor(chunk / 4) + 1) * 4);
  header(buf, 1, RTCP_SDES);
  buf.writeUInt32BE(ssrc >>> 0, 4);
  buf[8] = SDES_CNAME;
  buf[9] = text.length;
  text.copy(buf, 10);
  return buf;
}

export function encodeBye(ssrcs: readonly number[], reason?: string): Buffer {
  if (ssrcs.length > 31) throw new RangeError('at most 31 SSRCs');
  const text = reason === undefined ? null : Buffer.from(reason, 'utf8').subarray(0, 255);
  const body = 4 * ssrcs.length + (text ? 1 + text.length : 0);
  const buf = Buffer.alloc(4 + Math.ceil(body / 4) * 4);
  header(buf, ssrcs.length, RTCP_BYE);
  ssrcs.forEach((s, i) => buf.writeUInt32BE(s >>> 0, 4 + 4 * i));
  if (text) {
    buf[4 + 4 * ssrcs.length] = text.length;
    text.copy(buf, 5 + 4 * ssrcs.length);
  }
  return buf;
}

// ---- parsing ----

/** Parses a compound RTCP packet; any violation of RFC 3550 A.2 rejects the whole datagram. */
export function parseRtcp(buf: Uint8Array): RtcpParseResult {
  if (buf.length < 8 || buf.length % 4 !== 0) return { ok: false, reason: buf.length < 8 ? 'too_short' : 'bad_length' };
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const packets: RtcpPacket[] = [];
  let at = 0;
  while (at < view.length) {
    if (at + 4 > view.length) return { ok: false, reason: 'bad_length' };
    const b0 = view[at]!;
    if (b0 >> 6 !== 2) return { ok: false, reason: 'bad_version' };
    const size = (view.readUInt16BE(at + 2) + 1) * 4;
    if (at + size > view.length) return { ok: false, reason: 'bad_length' };
    const packetType = view[at + 1]!;
    if (at === 0 && packetType !== RTCP_SR && packetType !== RTCP_RR) return { ok: false, reason: 'not_sr_or_rr_first' };
    let end = at + size;
    if ((b0 & 0x20) !== 0) {
      // Padding only on the last packet of the compound (A.2), counted by its last octet.
      const pad = view[end - 1]!;
      if (end !== view.length || pad === 0 || pad > size - 4) return { ok: false, reason: 'bad_padding' };
      end -= pad;
    }
    const packet = parseOne(view, at, end, b0 & 0x1f, packetType);
    if (!packet) return { ok: false, reason: 'bad_body' };
    packets.push(packet);
    at += size;
  }
  return { ok: true, packets };
}

function readReports(view: Buffer, at: number, count: number): ReportBlock[] {
  const reports: ReportBlock[] = [];
  for (let i = 0; i < count; i++, at += 24) {
    const word = view.readUInt32BE(at + 4);
    const lost = word & 0xffffff;
    reports.push({
      ssrc: view.readUInt32BE(at),
      fractionLost: word >>> 24,
      cumulativeLost: lost & 0x800000 ? lost - 0x1000000 : lost,
      highestSeq: view.readUInt32BE(at + 8),
      jitter: view.readUInt32BE(at + 12),
      lsr: view.readUInt32BE(at + 16),
      dlsr: view.readUInt32BE(at + 20),
    });
  }
  return reports;
}

function parseOne(view: Buffer, at: number, end: number, count: number, packetType: number): RtcpPacket | null {
  switch (packetType) {
    case RTCP_SR: {
      if (end - at < 28 + 24 * count) return null;
      const sender: SenderInfo = {
        ntpSeconds: view.readUInt32BE(at + 8),
        ntpFraction: view.readUInt32BE(at + 12),
        rtpTimestamp: view.readUInt32BE(at + 16),
        packetCount: view.readUInt32BE(at + 20),
        octetCount: view.readUInt32BE(at + 24),
      };
      return { type: 'sr', ssrc: view.readUInt32BE(at + 4), sender, reports: readReports(view, at + 28, count) };
    }
    case RTCP_RR:
      if (end - at < 8 + 24 * count) return null;
      return { type: 'rr', ssrc: view.readUInt32BE(at + 4), reports: readReports(view, at + 8, count) };
    case RTCP_SDES:
      return parseSdes(view, at + 4, end, count);
    case RTCP_BYE: {
      let p = at + 4 + 4 * count;
      if (p > end) return null;
      const ssrcs = Array.from({ length: count }, (_, i) => view.readUInt32BE(at + 4 + 4 * i));
      let reason: string | null = null;
      if (p < end) {
        const len = view[p++]!;
        if (p + len > end) return null;
        reason = view.toString('utf8', p, p + len);
      }
      return { type: 'bye', ssrcs, reason };
    }
    default:
      return { type: 'other', packetType };
  }
}

/** SDES chunks: an SSRC, then items (type, length, text) up to a null octet, padded to 32 bits. */
function parseSdes(view: Buffer, at: number, end: number, count: number): RtcpPacket | null {
  const chunks: Array<{ ssrc: number; cname: string | null }> = [];
  let p = at;
  for (let i = 0; i < count; i++) {
    if (p + 4 > end) return null;
    const ssrc = view.readUInt32BE(p);
    p += 4;
    let cname: string | null = null;
    for (;;) {
      if (p >= end) return null;
      const type = view[p]!;
      if (type === 0) break;
      if (p + 2 > end) return null;
      const len = view[p + 1]!;
      if (p + 2 + len > end) return null;
      if (type === SDES_CNAME) cname = view.toString('utf8', p + 2, p + 2 + len);
      p += 2 + len;
    }
    p = (Math.floor((p - at) / 4) + 1) * 4 + at; // past the null octet(s) to the next word
    if (p > end) return null;
    chunks.push({ ssrc, cname });
  }
  return { type: 'sdes', chunks };
}
