import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';

export type PortResult = { ok: true; socket: Socket; port: number } | { ok: false; code: 'config_invalid' | 'ports_exhausted'; message: string };

/**
 * Even RTP ports in a configured range, bound exclusively. The search starts after the last port
 * handed out, so a port just freed (whose late packets may still arrive) is reused last.
 */
export class RtpPortAllocator {
  private readonly inUse = new Set<number>();
  private cursor = -1;

  async open(bindHost: string, portMin: number, portMax: number): Promise<PortResult> {
    const first = portMin + (portMin & 1);
    const last = portMax - (portMax & 1);
    const count = last >= first ? (last - first) / 2 + 1 : 0;
    const startAt = this.cursor >= first && this.cursor <= last ? (this.cursor - first) / 2 : 0;
    const type = isIP(bindHost) === 6 ? 'udp6' : 'udp4';
    for (let i = 0; i < count; i++) {
      const port = first + ((startAt + i) % count) * 2;
      if (this.inUse.has(port)) continue;
      this.inUse.add(port);
      try {
        const socket = await bind(type, bindHost, port);
        this.cursor = port + 2;
        return { ok: true, socket, port };
      } catch (e) {
        this.inUse.delete(port);
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES') continue;
        return { ok: false, code: 'config_invalid', message: `cannot bind RTP to ${bindHost}:${port}: ${code ?? String(e)}` };
      }
    }
    return { ok: false, code: 'ports_exhausted', message: `no free even RTP port in [${portMin}, ${portMax}] on ${bindHost}` };
  }

  release(port: number): void {
    this.inUse.delete(port);
  }
}

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
