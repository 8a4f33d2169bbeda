import { writeFileSync } from 'node:fs';

/**
 * RFC 4733 DTMF fixtures for sipp's `play_pcap_audio`, and the decoders the tests use to check them.
 *
 * sipp (prepare_pcap.c) reads a libpcap file of link type Ethernet (1) or Linux cooked (113), keeps
 * the UDP part of each IPv4/IPv6 packet, and replays it with the capture's relative timing through a
 * raw socket: source port = its -mp media port, destination = the m=audio port of the SDP it received,
 * each shifted by (this packet's UDP destination port - the lowest one in the file). So one stream with
 * one destination port is sent exactly as written; the IP addresses in the file are not used.
 * A play_pcap_audio cancels the one still playing, so a digit string is one file, not one per key.
 */

export const TELEPHONE_EVENT_CODES: Readonly<Record<string, number>> = {
  '0': 0, '1': 1, '2': 2, '3': 3, '4': 4, '5': 5, '6': 6, '7': 7, '8': 8, '9': 9,
  '*': 10, '#': 11, A: 12, B: 13, C: 14, D: 15,
};
const EVENT_CHARS = '0123456789*#ABCD';

export interface DtmfPcapOptions {
  /** Keys in order, e.g. "4411#": 0-9, *, #, A-D. */
  digits: string;
  /** The telephone-event payload type of the call's SDP. Default 101. */
  payloadType?: number;
  ssrc?: number;
  firstSequence?: number;
  firstTimestamp?: number;
  /** How long each key is held. Default 100 ms (sent as 20 ms updates). */
  toneMs?: number;
  /** Nothing (or silence, see `silencePayloadType`) between the last end packet of a key and the next key. Default 100 ms. */
  gapMs?: number;
  /** Silence before the first key; needs `silencePayloadType`. Default 0. */
  leadMs?: number;
  /** When set (0 = PCMU, 8 = PCMA), the lead and the gaps carry G.711 silence in the same stream, like a real phone. */
  silencePayloadType?: 0 | 8;
  /** Volume field of the events, in -dBm0 (0..63). Default 10. */
  volume?: number;
  srcIp?: string;
  dstIp?: string;
  srcPort?: number;
  dstPort?: number;
  /** Capture time of the first packet, in Unix seconds (only relative times matter to sipp). */
  startTime?: number;
}

export interface DtmfEventInfo {
  digit: string;
  event: number;
  timestamp: number;
  /** When its first packet is sent, relative to the first packet of the file. */
  atMs: number;
}

export interface DtmfPcapInfo {
  packets: number;
  /** Time from the first to the last packet. */
  durationMs: number;
  events: DtmfEventInfo[];
}

interface RtpSpec {
  atMs: number;
  marker: boolean;
  payloadType: number;
  sequence: number;
  timestamp: number;
  payload: Buffer;
}

const PACKET_MS = 20;
const SAMPLES_PER_MS = 8;

/** Writes the pcap and says what is in it. */
export function writeDtmfPcap(path: string, options: DtmfPcapOptions): DtmfPcapInfo {
  const { file, info } = buildDtmfPcap(options);
  writeFileSync(path, file);
  return info;
}

/** The pcap file as bytes: one RTP stream (one SSRC, consecutive sequence numbers, one clock). */
export function buildDtmfPcap(options: DtmfPcapOptions): { file: Buffer; info: DtmfPcapInfo } {
  const o = {
    payloadType: 101,
    ssrc: 0x5eed_0001,
    firstSequence: 1000,
    firstTimestamp: 160_000,
    toneMs: 100,
    gapMs: 100,
    leadMs: 0,
    volume: 10,
    srcIp: '127.0.0.2',
    dstIp: '127.0.0.1',
    srcPort: 40_000,
    dstPort: 40_002,
    startTime: 1_700_000_000,
    ...options,
  };
  if (o.digits.length === 0) throw new RangeError('digits: at least one key is needed');
  const codes = [...o.digits].map((d) => {
    const code = TELEPHONE_EVENT_CODES[d.toUpperCase()];
    if (code === undefined) throw new RangeError(`digits: '${d}' is not a DTMF key`);
    return code;
  });
  checkInt('payloadType', o.payloadType, 0, 127);
  checkInt('ssrc', o.ssrc, 0, 0xffff_ffff);
  checkInt('volume', o.volume, 0, 63);
  checkInt('toneMs', o.toneMs, PACKET_MS, 8000); // the duration field is 16 bits of 8 kHz samples
  checkInt('gapMs', o.gapMs, 0, 60_000);
  checkInt('leadMs', o.leadMs, 0, 60_000);
  if (o.leadMs > 0 && o.silencePayloadType === undefined) {
    throw new RangeError('leadMs needs silencePayloadType: sipp starts a pcap at its first packet');
  }
  if (o.silencePayloadType !== undefined && o.silencePayloadType !== 0 && o.silencePayloadType !== 8) {
    throw new RangeError('silencePayloadType must be 0 (PCMU) or 8 (PCMA)');
  }

  const specs: RtpSpec[] = [];
  const events: DtmfEventInfo[] = [];
  let sequence = o.firstSequence & 0xffff;
  const push = (atMs: number, marker: boolean, payloadType: number, timestamp: number, payload: Buffer) => {
    specs.push({ atMs, marker, payloadType, sequence, timestamp: timestamp >>> 0, payload });
    sequence = (sequence + 1) & 0xffff;
  };
  const clock = (atMs: number) => o.firstTimestamp + atMs * SAMPLES_PER_MS;
  const silence = (fromMs: number, toMs: number, first: boolean) => {
    if (o.silencePayloadType === undefined) return;
    const fill = Buffer.alloc(PACKET_MS * SAMPLES_PER_MS, o.silencePayloadType === 0 ? 0xff : 0xd5);
    for (let t = fromMs; t < toMs; t += PACKET_MS) push(t, first && t === fromMs, o.silencePayloadType, clock(t), fill);
  };

  silence(0, o.leadMs, true);
  let now = o.leadMs;
  const updates = Math.max(1, Math.round(o.toneMs / PACKET_MS));
  codes.forEach((event, i) => {
    const timestamp = clock(now) >>> 0;
    events.push({ digit: EVENT_CHARS[event]!, event, timestamp, atMs: now });
    // one update per 20 ms, duration growing by 160; the last one ends the event and is sent 3 times
    for (let k = 0; k < updates + 2; k++) {
      const end = k >= updates - 1;
      const duration = Math.min(k + 1, updates) * PACKET_MS * SAMPLES_PER_MS;
      push(now + k * PACKET_MS, k === 0, o.payloadType, timestamp, telephoneEvent(event, end, o.volume, duration));
    }
    now += (updates + 2) * PACKET_MS;
    if (i < codes.length - 1) {
      silence(now, now + o.gapMs, false);
      now += o.gapMs;
    }
  });

  const frames = specs.map((s, i) => ({
    atMs: s.atMs,
    frame: ethernetIpv4Udp(o.srcIp, o.dstIp, o.srcPort, o.dstPort, i + 1, rtp(s, o.ssrc)),
  }));
  const last = specs[specs.length - 1]!;
  return {
    file: pcapFile(frames, o.startTime),
    info: { packets: specs.length, durationMs: last.atMs, events },
  };
}

function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer in ${min}..${max}, not ${v}`);
}

function telephoneEvent(event: number, end: boolean, volume: number, duration: number): Buffer {
  const b = Buffer.alloc(4);
  b[0] = event;
  b[1] = (end ? 0x80 : 0) | (volume & 0x3f);
  b.writeUInt16BE(duration, 2);
  return b;
}

function rtp(s: RtpSpec, ssrc: number): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80; // version 2, no padding, no extension, no CSRC
  h[1] = (s.marker ? 0x80 : 0) | s.payloadType;
  h.writeUInt16BE(s.sequence, 2);
  h.writeUInt32BE(s.timestamp, 4);
  h.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([h, s.payload]);
}

function ipv4(addr: string): Buffer {
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new RangeError(`not an IPv4 address: ${addr}`);
  return Buffer.from(parts);
}

function onesComplementSum(buffers: Buffer[]): number {
  let sum = 0;
  for (const b of buffers) {
    for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) + (i + 1 < b.length ? b[i + 1]! : 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export function ethernetIpv4Udp(srcIp: string, dstIp: string, srcPort: number, dstPort: number, id: number, payload: Buffer): Buffer {
  const src = ipv4(srcIp);
  const dst = ipv4(dstIp);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(srcPort, 0);
  udp.writeUInt16BE(dstPort, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  const pseudo = Buffer.concat([src, dst, Buffer.from([0, 17]), udp.subarray(4, 6)]);
  const udpSum = 0xffff - onesComplementSum([pseudo, udp, payload.length % 2 ? Buffer.concat([payload, Buffer.alloc(1)]) : payload]);
  udp.writeUInt16BE(udpSum === 0 ? 0xffff : udpSum, 6);

  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip.writeUInt16BE(id & 0xffff, 4);
  ip.writeUInt16BE(0x4000, 6); // don't fragment
  ip[8] = 64;
  ip[9] = 17; // UDP
  src.copy(ip, 12);
  dst.copy(ip, 16);
  ip.writeUInt16BE(0xffff - onesComplementSum([ip]), 10);

  const eth = Buffer.alloc(14);
  Buffer.from([0x02, 0, 0, 0, 0, 0x02]).copy(eth, 0); // locally administered MACs
  Buffer.from([0x02, 0, 0, 0, 0, 0x01]).copy(eth, 6);
  eth.writeUInt16BE(0x0800, 12);
  return Buffer.concat([eth, ip, udp, payload]);
}

export function pcapFile(frames: { atMs: number; frame: Buffer }[], startTime: number): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0); // microsecond timestamps
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeInt32LE(0, 8); // thiszone
  header.writeUInt32LE(0, 12); // sigfigs
  header.writeUInt32LE(65535, 16); // snaplen
  header.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const records = frames.map(({ atMs, frame }) => {
    const r = Buffer.alloc(16);
    const us = Math.round(atMs * 1000);
    r.writeUInt32LE(startTime + Math.floor(us / 1_000_000), 0);
    r.writeUInt32LE(us % 1_000_000, 4);
    r.writeUInt32LE(frame.length, 8); // captured = original: sipp refuses truncated packets
    r.writeUInt32LE(frame.length, 12);
    return Buffer.concat([r, frame]);
  });
  return Buffer.concat([header, ...records]);
}

// ---- decoding, for tests ----

export interface PcapRecord {
  timeUs: number;
  frame: Buffer;
  originalLength: number;
}

/** Reads a classic libpcap file (either byte order, µs or ns timestamps). */
export function readPcap(file: Buffer): { linkType: number; snapLength: number; version: string; records: PcapRecord[] } {
  if (file.length < 24) throw new Error('pcap: shorter than its global header');
  const magicLE = file.readUInt32LE(0);
  let le: boolean;
  let nano = false;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) { le = true; nano = magicLE === 0xa1b23c4d; }
  else if (file.readUInt32BE(0) === 0xa1b2c3d4 || file.readUInt32BE(0) === 0xa1b23c4d) { le = false; nano = file.readUInt32BE(0) === 0xa1b23c4d; }
  else throw new Error('pcap: bad magic');
  const u32 = (o: number) => (le ? file.readUInt32LE(o) : file.readUInt32BE(o));
  const u16 = (o: number) => (le ? file.readUInt16LE(o) : file.readUInt16BE(o));
  const records: PcapRecord[] = [];
  let off = 24;
  while (off < file.length) {
    if (off + 16 > file.length) throw new Error('pcap: truncated record header');
    const sec = u32(off);
    const frac = u32(off + 4);
    const caplen = u32(off + 8);
    const origlen = u32(off + 12);
    if (off + 16 + caplen > file.length) throw new Error('pcap: truncated record');
    records.push({ timeUs: sec * 1e6 + (nano ? Math.floor(frac / 1000) : frac), frame: file.subarray(off + 16, off + 16 + caplen), originalLength: origlen });
    off += 16 + caplen;
  }
  return { linkType: u32(20), snapLength: u32(16), version: `${u16(4)}.${u16(6)}`, records };
}

export interface UdpDatagram {
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  ipChecksumOk: boolean;
  udpChecksumOk: boolean;
  payload: Buffer;
}

/** The UDP datagram in an Ethernet II / IPv4 frame. */
export function parseEthernetUdp(frame: Buffer): UdpDatagram {
  if (frame.readUInt16BE(12) !== 0x0800) throw new Error('not IPv4 over Ethernet');
  const ip = frame.subarray(14);
  const ihl = (ip[0]! & 0x0f) * 4;
  if (ip[0]! >> 4 !== 4 || ip[9] !== 17) throw new Error('not IPv4/UDP');
  const total = ip.readUInt16BE(2);
  const udp = ip.subarray(ihl, total);
  const ulen = udp.readUInt16BE(4);
  const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 17]), udp.subarray(4, 6)]);
  const body = udp.subarray(0, ulen);
  return {
    srcIp: [...ip.subarray(12, 16)].join('.'),
    dstIp: [...ip.subarray(16, 20)].join('.'),
    srcPort: udp.readUInt16BE(0),
    dstPort: udp.readUInt16BE(2),
    ipChecksumOk: onesComplementSum([ip.subarray(0, ihl)]) === 0xffff,
    udpChecksumOk: onesComplementSum([pseudo, body.length % 2 ? Buffer.concat([body, Buffer.alloc(1)]) : body]) === 0xffff,
    payload: udp.subarray(8, ulen),
  };
}

export interface RtpPacket {
  version: number;
  marker: boolean;
  payloadType: number;
  sequence: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
}

export function parseRtp(b: Buffer): RtpPacket {
  if (b.length < 12) throw new Error('rtp: shorter than 12 bytes');
  const csrc = b[0]! & 0x0f;
  let start = 12 + csrc * 4;
  if (b[0]! & 0x10) start += 4 + b.readUInt16BE(start + 2) * 4;
  let end = b.length;
  if (b[0]! & 0x20) end -= b[b.length - 1]!;
  return {
    version: b[0]! >> 6,
    marker: (b[1]! & 0x80) !== 0,
    payloadType: b[1]! & 0x7f,
    sequence: b.readUInt16BE(2),
    timestamp: b.readUInt32BE(4),
    ssrc: b.readUInt32BE(8),
    payload: b.subarray(start, end),
  };
}

export interface TelephoneEvent {
  event: number;
  end: boolean;
  volume: number;
  duration: number;
}

export function parseTelephoneEvent(payload: Buffer): TelephoneEvent {
  if (payload.length < 4) throw new Error('telephone-event: shorter than 4 bytes');
  return { event: payload[0]!, end: (payload[1]! & 0x80) !== 0, volume: payload[1]! & 0x3f, duration: payload.readUInt16BE(2) };
}

/**
 * The keys in a stream, the reference way: one key per distinct RTP timestamp of the given
 * telephone-event payload type (so repeated end packets count once, and "44" counts twice).
 */
export function dtmfDigits(packets: RtpPacket[], payloadType: number): string {
  const seen = new Set<number>();
  let digits = '';
  for (const p of packets) {
    if (p.payloadType !== payloadType || seen.has(p.timestamp)) continue;
    seen.add(p.timestamp);
    const { event } = parseTelephoneEvent(p.payload);
    digits += EVENT_CHARS[event] ?? '?';
  }
  return digits;
}
