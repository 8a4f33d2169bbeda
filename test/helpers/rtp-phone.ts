import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { encode } from '../../src/telephony/media/g711.js';
import { parseWav } from '../../src/telephony/media/wav.js';

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

/** A clip as the phone should hear it: its samples in G.711 μ-law. */
export function ulaw(file: string): Buffer {
  return Buffer.from(encode('PCMU', parseWav(readFileSync(file), file)));
}

/**
 * The μ-law audio the phone received, in sending order: sequence numbers counted from the first one,
 * modulo 2^16 (they start at a random value and may wrap during the call).
 */
export function receivedAudio(packets: readonly CapturedPacket[]): Buffer {
  const received = packets.filter((p) => p.payloadType === 0);
  const first = received[0]?.sequence ?? 0;
  return Buffer.concat(received.sort((a, b) => ((a.sequence - first) & 0xffff) - ((b.sequence - first) & 0xffff)).map((p) => p.payload));
}

export interface HeldPortRange {
  /** Even; the range holds `evenPorts` even ports, [portMin, portMax] with portMax odd. */
  portMin: number;
  portMax: number;
  /** Closes the socket on one port of the range (awaited: the port is free again), or on all of them. */
  release(port?: number): Promise<void>;
}

const HOST = '127.0.0.1';

/** A UDP socket on 127.0.0.1:`port`, or null when the port is taken. */
export function bindUdp(port: number): Promise<Socket | null> {
  const s = createSocket('udp4');
  return new Promise((done) => {
    s.once('error', () => {
      s.close();
      done(null);
    });
    s.bind(port, HOST, () => done(s));
  });
}

const closeSocket = (s: Socket) => new Promise<void>((r) => s.close(() => r()));

/**
 * Binds every even port of a range of `evenPorts` even ports on 127.0.0.1 and keeps them bound until
 * released: the range is known to be free, not guessed. Its base comes from a port-0 bind (a port the
 * system hands out as free), rounded down to even; a range with a busy port is dropped for another.
 */
export async function holdRtpPortRange(evenPorts: number): Promise<HeldPortRange> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const probe = (await bindUdp(0))!;
    const base = (probe.address() as AddressInfo).port & ~1;
    await closeSocket(probe);
    if (base + 2 * evenPorts - 1 > 65535) continue;
    const held = new Map<number, Socket>();
    for (let p = base; p < base + 2 * evenPorts; p += 2) {
      const s = await bindUdp(p);
      if (!s) break;
      held.set(p, s);
    }
    if (held.size === evenPorts) {
      return {
        portMin: base,
        portMax: base + 2 * evenPorts - 1,
        async release(port) {
          const ports = port === undefined ? [...held.keys()] : [port];
          await Promise.all(ports.map((p) => {
            const s = held.get(p);
            held.delete(p);
            return s ? closeSocket(s) : undefined;
          }));
        },
      };
    }
    await Promise.all([...held.values()].map(closeSocket));
  }
  throw new Error(`no range of ${evenPorts} free even UDP ports found on ${HOST}`);
}

/** A range of `evenPorts` even ports that were all free a moment ago (checked by binding them), for an RTP engine. */
export async function freeRtpPortRange(evenPorts: number): Promise<{ portMin: number; portMax: number }> {
  const held = await holdRtpPortRange(evenPorts);
  await held.release();
  return { portMin: held.portMin, portMax: held.portMax };
}
