import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';

export type PortResult =
  | { ok: true; socket: Socket; rtcpSocket: Socket; port: number }
  | { ok: false; code: 'config_invalid' | 'ports_exhausted'; message: string };

/**
 * RTP/RTCP port pairs in a configured range: an even port for RTP and the odd one above it for RTCP
 * (RFC 3550 §11), both bound exclusively, both inside [portMin, portMax]. The RTCP port is bound even
 * though the answer may negotiate rtcp-mux: the offerer must be ready for either (RFC 5761 §5.1.3).
 * The search starts after the last pair handed out, so a pair just freed (whose late packets may still
 * arrive) is reused last.
 */
export class RtpPortAllocator {
  private readonly inUse = new Set<number>();
  private cursor = -1;

  async open(bindHost: string, portMin: number, portMax: number): Promise<PortResult> {
    const first = portMin + (portMin & 1);
    const last = portMax - (portMax & 1 ? 1 : 2); // the last even port with its odd neighbour in range
    const count = last >= first ? (last - first) / 2 + 1 : 0;
    const startAt = this.cursor >= first && this.cursor <= last ? (this.cursor - first) / 2 : 0;
    const type = isIP(bindHost) === 6 ? 'udp6' : 'udp4';
    for (let i = 0; i < count; i++) {
      const port = first + ((startAt + i) % count) * 2;
      if (this.inUse.has(port)) continue;
      this.inUse.add(port);
      const r = await bindPair(type, bindHost, port);
      if (r.ok) {
        this.cursor = port + 2;
        return { ok: true, socket: r.rtp, rtcpSocket: r.rtcp, port };
      }
      this.inUse.delete(port);
      if (r.code === 'EADDRINUSE' || r.code === 'EACCES') continue;
      return { ok: false, code: 'config_invalid', message: `cannot bind RTP/RTCP to ${bindHost}:${port}/${port + 1}: ${r.code}` };
    }
    return { ok: false, code: 'ports_exhausted', message: `no free RTP/RTCP port pair (even port and the next) in [${portMin}, ${portMax}] on ${bindHost}` };
  }

  release(port: number): void {
    this.inUse.delete(port);
  }
}

async function bindPair(type: 'udp4' | 'udp6', address: string, port: number): Promise<{ ok: true; rtp: Socket; rtcp: Socket } | { ok: false; code: string }> {
  let rtp: Socket;
  try {
    rtp = await bind(type, address, port);
  } catch (e) {
    return { ok: false, code: codeOf(e) };
  }
  try {
    return { ok: true, rtp, rtcp: await bind(type, address, port + 1) };
  } catch (e) {
    await new Promise<void>((r) => rtp.close(() => r()));
    return { ok: false, code: codeOf(e) };
  }
}

const codeOf = (e: unknown) => (e as NodeJS.ErrnoException).code ?? String(e);

function bind(type: 'udp4' | 'udp6', address: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type });
    const failed = (e: Error) => {
      try {
        socket.close();
      } catch {
        // never bound
      }
      reject(e);
    };
    socket.once('error', failed);
    socket.bind({ port, address, exclusive: true }, () => {
      socket.off('error', failed);
      resolve(socket);
    });
  });
}
