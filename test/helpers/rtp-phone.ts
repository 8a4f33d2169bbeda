import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

export interface CapturedPacket {
  payloadType: number;
  sequence: number;
  timestamp: number;
  payload: Buffer;
}

const EVENTS: Record<string, number> = { '*': 10, '#': 11 };

/**
 * The media side of the test phone: a UDP socket that records the RTP callpay plays to it and
 * keys digits back as RFC 4733 telephone-events (one event per key, three end packets).
 */
export async function openRtpPhone(): Promise<{
  port: number;
  packets: CapturedPacket[];
  /** Where callpay's RTP comes from (known after its first packet). */
  peer(): { address: string; port: number } | null;
  sendDigits(digits: string, payloadType?: number): Promise<void>;
  close(): Promise<void>;
}> {
  const socket: Socket = createSocket('udp4');
  const packets: CapturedPacket[] = [];
  let peer: { address: string; port: number } | null = null;
  socket.on('message', (msg, rinfo) => {
    if (msg.length < 12) return;
    peer ??= { address: rinfo.address, port: rinfo.port };
    const cc = msg[0]! & 0x0f;
    packets.push({ payloadType: msg[1]! & 0x7f, sequence: msg.readUInt16BE(2), timestamp: msg.readUInt32BE(4), payload: msg.subarray(12 + cc * 4) });
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  let seq = 1000;
  let ts = 50_000;
  const ssrc = 0x1234abcd;
  const send = (pt: number, marker: boolean, timestamp: number, payload: Buffer) => {
    const h = Buffer.alloc(12);
    h[0] = 0x80;
    h[1] = (marker ? 0x80 : 0) | pt;
    h.writeUInt16BE(seq++ & 0xffff, 2);
    h.writeUInt32BE(timestamp >>> 0, 4);
    h.writeUInt32BE(ssrc, 8);
    return new Promise<void>((resolve) => socket.send(Buffer.concat([h, payload]), peer!.port, peer!.address, () => resolve()));
  };
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  return {
    port: (socket.address() as AddressInfo).port,
    packets,
    peer: () => peer,
    async sendDigits(digits, payloadType = 101) {
      if (!peer) throw new Error('no RTP received from callpay yet');
      for (const d of digits) {
        const event = EVENTS[d] ?? Number(d);
        ts += 1600;
        const payload = (end: boolean, duration: number) => {
          const p = Buffer.from([event, (end ? 0x80 : 0) | 10, 0, 0]);
          p.writeUInt16BE(duration, 2);
          return p;
        };
        for (let i = 1; i <= 4; i++) {
          await send(payloadType, i === 1, ts, payload(false, 160 * i));
          await pause(20);
        }
        for (let i = 0; i < 3; i++) await send(payloadType, false, ts, payload(true, 160 * 5));
        await pause(60);
      }
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
