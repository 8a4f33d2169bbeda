import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Logger } from '../../log.js';
import type { HostPort } from './headers.js';
import { parseMessage, type IncomingMessage } from './message.js';

/**
 * One UDP socket for SIP over UDP (RFC 3261 §18); transports.ts puts TCP and TLS behind the same
 * interface. Datagrams that do not parse are logged at debug and dropped here, so nothing above ever
 * sees malformed input.
 */
export interface SipTransport {
  /** The bound address; port is the real one when 0 was asked for. */
  readonly local: HostPort;
  /** The UDP socket's receive buffer as the kernel granted it (bytes); null for stream-only transports. */
  readonly receiveBufferBytes?: number | null;
  /**
   * Fire and forget: UDP loss is what retransmission timers are for. Over TCP/TLS (transports.ts)
   * `onError` hears of a connection that could not be opened or a write that failed (§17.1.4).
   */
  send(data: string, dest: HostPort, onError?: (reason: string) => void): void;
  onMessage(handler: (msg: IncomingMessage, source: HostPort) => void): void;
  close(): Promise<void>;
}

export interface UdpTransportOptions {
  host: string;
  port: number;
  log: Logger;
  /**
   * SO_RCVBUF asked for (config `telephony.sip.receiveBufferBytes`): a burst of INVITE responses must
   * wait here, not be dropped, while the thread is busy. Linux caps it at net.core.rmem_max.
   */
  receiveBufferBytes?: number;
}

export async function openUdpTransport(opts: UdpTransportOptions): Promise<SipTransport> {
  const socket: Socket = createSocket({ type: isIP(opts.host) === 6 ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port, opts.host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const log = opts.log;
  const receiveBufferBytes = sizeReceiveBuffer(socket, opts.receiveBufferBytes, log);
  socket.on('error', (err) => log.error({ err }, 'SIP socket error'));
  let handler: ((msg: IncomingMessage, source: HostPort) => void) | null = null;
  let closed = false;
  let inFlight = 0;
  let drained: (() => void) | null = null;

  socket.on('message', (data, rinfo) => {
    const source = { host: rinfo.address, port: rinfo.port };
    const parsed = parseMessage(data);
    if (!parsed.ok) {
      if (parsed.error.code !== 'empty') log.debug({ source, error: parsed.error, bytes: data.length }, 'dropped malformed SIP datagram');
      return;
    }
    try {
      handler?.(parsed.message, source);
    } catch (err) {
      // A bug in message handling must not take the socket (and every other call) down.
      log.error({ err }, 'SIP message handler failed');
    }
  });

  const address = socket.address();
  return {
    local: { host: opts.host, port: address.port },
    receiveBufferBytes,
    send(data, dest) {
      if (closed) return;
      inFlight++;
      socket.send(data, dest.port, dest.host, (err) => {
        if (err) log.warn({ err, dest: `${dest.host}:${dest.port}` }, 'SIP send failed');
        if (--inFlight === 0) drained?.();
      });
    },
    onMessage(h) {
      handler = h;
    },
    async close() {
      if (closed) return;
      closed = true;
      // Let the last datagrams (a CANCEL, a BYE) leave before the socket goes; never wait long.
      if (inFlight > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          drained = resolve;
          timer = setTimeout(resolve, 200);
        });
        clearTimeout(timer);
      }
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

/** Asks for the buffer, reads back what the kernel granted (it reports double: half is bookkeeping). */
function sizeReceiveBuffer(socket: Socket, wanted: number | undefined, log: Logger): number | null {
  try {
    if (wanted !== undefined && wanted > 0) socket.setRecvBufferSize(wanted);
    const granted = Math.floor(socket.getRecvBufferSize() / 2);
    if (wanted !== undefined && wanted > 0 && granted < wanted) {
      log.warn({ wanted, granted }, 'SIP receive buffer smaller than configured: raise net.core.rmem_max (sysctl) so bursts are not dropped');
    }
    return granted;
  } catch (err) {
    log.warn({ err }, 'SIP receive buffer size not set');
    return null;
  }
}
