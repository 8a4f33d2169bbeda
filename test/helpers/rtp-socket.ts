import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';

export interface ReceivedRtp {
  payloadType: number;
  marker: boolean;
  sequence: number;
  timestamp: number;
  payload: Buffer;
  /** performance.now() on arrival. */
  at: number;
  from: { address: string; port: number };
}

const EVENTS: Record<string, number> = { '*': 10, '#': 11 };

/**
 * A phone's RTP endpoint for tests that steer media by hand: records what arrives (with marker and
 * arrival time) and keys RFC 4733 digits to an explicit address, with any payload type.
 */
export class RtpEndpoint {
  readonly received: ReceivedRtp[] = [];
  private seq = 1000;
  private ts = 80_000;

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
    private readonly ssrc: number,
  ) {
    socket.on('message', (msg, rinfo) => {
      if (msg.length < 12) return;
      const cc = msg[0]! & 0x0f;
      this.received.push({
        payloadType: msg[1]! & 0x7f,
        marker: (msg[1]! & 0x80) !== 0,
        sequence: msg.readUInt16BE(2),
        timestamp: msg.readUInt32BE(4),
        payload: msg.subarray(12 + cc * 4),
        at: performance.now(),
        from: { address: rinfo.address, port: rinfo.port },
      });
    });
  }

  static async open(ssrc = 0x5eed1234): Promise<RtpEndpoint> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new RtpEndpoint(socket, (socket.address() as AddressInfo).port, ssrc);
  }

  send(data: Uint8Array, to: { address: string; port: number }): Promise<void> {
    return new Promise((resolve) => this.socket.send(data, to.port, to.address, () => resolve()));
  }

  /** One RFC 4733 event per key: four updates 20 ms apart, then three end packets. */
  async sendDigits(digits: string, payloadType: number, to: { address: string; port: number }): Promise<void> {
    const packet = (marker: boolean, payload: Buffer) => {
      const h = Buffer.alloc(12);
      h[0] = 0x80;
      h[1] = (marker ? 0x80 : 0) | payloadType;
      h.writeUInt16BE(this.seq++ & 0xffff, 2);
      h.writeUInt32BE(this.ts >>> 0, 4);
      h.writeUInt32BE(this.ssrc, 8);
      return Buffer.concat([h, payload]);
    };
    const event = (code: number, end: boolean, duration: number) => Buffer.from([code, (end ? 0x80 : 0) | 10, (duration >> 8) & 0xff, duration & 0xff]);
    for (const d of digits) {
      const code = EVENTS[d] ?? Number(d);
      this.ts += 1600;
      for (let i = 1; i <= 4; i++) {
        await this.send(packet(i === 1, event(code, false, 160 * i)), to);
        await new Promise((r) => setTimeout(r, 20));
      }
      for (let i = 0; i < 3; i++) await this.send(packet(false, event(code, true, 800)), to);
      await new Promise((r) => setTimeout(r, 40));
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
