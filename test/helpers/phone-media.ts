import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { looksLikeRtcp } from '../../src/telephony/media/rtcp.js';
import { bindUdp } from './rtp-phone.js';

export interface Datagram {
  data: Buffer;
  from: { address: string; port: number };
  /** performance.now() on arrival. */
  at: number;
}

const EVENTS: Record<string, number> = { '*': 10, '#': 11 };


/**
 * The media side of a test phone for RTCP and latching tests: an RTP socket (optionally with an RTCP
 * socket on its port + 1) that records what arrives (RTP, and RTCP told apart by RFC 5761's rule) and
 * sends one RTP stream (one SSRC, one sequence for voice and RFC 4733 digits alike), as a phone does.
 */
export class PhoneMedia {
  readonly rtp: Datagram[] = [];
  /** RTCP that arrived on the RTP socket (rtcp-mux). */
  readonly muxedRtcp: Datagram[] = [];
  /** What arrived on the RTCP socket. */
  readonly rtcp: Datagram[] = [];
  private seq = 2000;
  private ts = 160_000;

  private constructor(
    private readonly rtpSocket: Socket,
    private readonly rtcpSocket: Socket | null,
    readonly ssrc: number,
  ) {
    rtpSocket.on('message', (data, r) => (looksLikeRtcp(data) ? this.muxedRtcp : this.rtp).push({ data, from: { address: r.address, port: r.port }, at: performance.now() }));
    rtcpSocket?.on('message', (data, r) => this.rtcp.push({ data, from: { address: r.address, port: r.port }, at: performance.now() }));
  }

  /** `rtcp`: 'next' = an RTCP socket on the RTP port + 1, 'any' = on a port of its own, 'none'. */
  static async open(opts: { ssrc?: number; rtcp?: 'next' | 'any' | 'none' } = {}): Promise<PhoneMedia> {
    const ssrc = opts.ssrc ?? 0x7a7a0001;
    const mode = opts.rtcp ?? 'none';
    for (let attempt = 0; attempt < 50; attempt++) {
      const rtp = (await bindUdp(0))!;
      const port = (rtp.address() as AddressInfo).port;
      if (mode === 'none') return new PhoneMedia(rtp, null, ssrc);
      if (mode === 'any') return new PhoneMedia(rtp, (await bindUdp(0))!, ssrc);
      const rtcp = port < 65535 ? await bindUdp(port + 1) : null;
      if (rtcp) return new PhoneMedia(rtp, rtcp, ssrc);
      await new Promise<void>((r) => rtp.close(() => r()));
    }
    throw new Error('no free UDP port pair on 127.0.0.1');
  }

  get rtpPort(): number {
    return (this.rtpSocket.address() as AddressInfo).port;
  }

  get rtcpPort(): number {
    if (!this.rtcpSocket) throw new Error('no RTCP socket');
    return (this.rtcpSocket.address() as AddressInfo).port;
  }

  /** Where callpay's RTP comes from (its RTP socket), once a packet has arrived. */
  peer(): { address: string; port: number } | null {
    return this.rtp[0]?.from ?? null;
  }

  /** SSRCs of the RTP received. */
  rtpSsrcs(): Set<number> {
    return new Set(this.rtp.filter((d) => d.data.length >= 12).map((d) => d.data.readUInt32BE(8)));
  }

  private packet(pt: number, marker: boolean, timestamp: number, payload: Buffer, seq = this.seq++): Buffer {
    const h = Buffer.alloc(12);
    h[0] = 0x80;
    h[1] = (marker ? 0x80 : 0) | pt;
    h.writeUInt16BE(seq & 0xffff, 2);
    h.writeUInt32BE(timestamp >>> 0, 4);
    h.writeUInt32BE(this.ssrc, 8);
    return Buffer.concat([h, payload]);
  }

  send(data: Uint8Array, to: { address: string; port: number }, via: 'rtp' | 'rtcp' = 'rtp'): Promise<void> {
    const socket = via === 'rtp' ? this.rtpSocket : this.rtcpSocket;
    if (!socket) throw new Error('no RTCP socket');
    return new Promise((resolve) => socket.send(data, to.port, to.address, () => resolve()));
  }

  /**
   * `frames` packets of µ-law silence, 20 ms apart. `skip`: sequence numbers left out (as lost on the
   * way), counted from the first of these frames.
   */
  async talk(to: { address: string; port: number }, frames: number, opts: { pt?: number; skip?: ReadonlySet<number> } = {}): Promise<void> {
    for (let i = 0; i < frames; i++) {
      const seq = this.seq++;
      this.ts += 160;
      if (!opts.skip?.has(i)) await this.send(this.packet(opts.pt ?? 0, i === 0, this.ts, Buffer.alloc(160, 0xff), seq), to);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** One RFC 4733 event per key: four updates 20 ms apart, then three end packets. */
  async keys(digits: string, pt: number, to: { address: string; port: number }): Promise<void> {
    for (const d of digits) {
      const code = EVENTS[d] ?? Number(d);
      this.ts += 1600;
      const event = (end: boolean, duration: number) => Buffer.from([code, (end ? 0x80 : 0) | 10, (duration >> 8) & 0xff, duration & 0xff]);
      for (let i = 1; i <= 4; i++) {
        await this.send(this.packet(pt, i === 1, this.ts, event(false, 160 * i)), to);
        await new Promise((r) => setTimeout(r, 20));
      }
      for (let i = 0; i < 3; i++) await this.send(this.packet(pt, false, this.ts, event(true, 800)), to);
      await new Promise((r) => setTimeout(r, 40));
    }
  }

  get lastSequence(): number {
    return (this.seq - 1) & 0xffff;
  }

  async close(): Promise<void> {
    await Promise.all([this.rtpSocket, this.rtcpSocket].map((s) => (s ? new Promise<void>((r) => s.close(() => r())) : undefined)));
  }
}
