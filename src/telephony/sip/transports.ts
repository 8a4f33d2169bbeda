import { readFileSync } from 'node:fs';
import { createServer as netServer, type Server, type Socket } from 'node:net';
import { createServer as tlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from '../../log.js';
import { formatHostPort, type HostPort } from './headers.js';
import type { IncomingMessage } from './message.js';
import { dial, StreamConnection, type ConnectionOptions, type StreamTransportName, type TlsMaterial } from './stream-transport.js';
import { openUdpTransport, type SipTransport } from './transport.js';
import { normalizeAddress } from './trust.js';

/**
 * SIP over UDP, TCP and TLS behind one `SipTransport` (RFC 3261 §18). `send` picks by
 * `dest.transport`: UDP datagrams, or a stream connection per (transport, host, port), opened on
 * demand, reused for everything to that destination (§18.1.1) and re-opened once it has closed.
 * A TCP listener shares the UDP port number; a TLS listener runs when we have a certificate.
 * Messages that come in on a connection carry it in their source (`HostPort.connection`), so the
 * answers go back over it (§18.2.2); once it is gone, `send` falls back to a new connection to the
 * host and port given alongside (the Via sent-by).
 */

/** Config `telephony.sip.tls` (file paths absolute). */
export interface SipTlsOptions {
  /** TLS listener port; 0 = any free one (tests). Only used with certFile and keyFile. */
  port: number;
  /** CA bundle for the far end's certificate; null = the system's CAs. */
  caFile: string | null;
  /** Our certificate and key: the TLS listener's, and our client certificate; null = none. */
  certFile: string | null;
  keyFile: string | null;
}

export interface SipTransportsOptions {
  host: string;
  /** UDP and TCP port; 0 = any free one. */
  port: number;
  tls?: SipTlsOptions | null;
  log: Logger;
  /** Bound on a TCP connect or TLS handshake. Default 5 s. */
  connectTimeoutMs?: number;
  /** A connection silent both ways this long is closed. Default 10 min. */
  idleTimeoutMs?: number;
  /** Inbound connections beyond this are refused. Default 256. */
  maxInbound?: number;
  /** The UDP socket's SO_RCVBUF (transport.ts). */
  receiveBufferBytes?: number;
}

export interface SipTransports extends SipTransport {
  /** The TLS listener's port; null without a certificate (no listener). */
  readonly tlsPort: number | null;
  /** Open stream connections (tests). */
  connectionCount(): number;
}

const BIND_TRIES = 5;

function readTlsMaterial(tls: SipTlsOptions | null | undefined): TlsMaterial {
  const read = (what: string, path: string | null) => {
    if (path === null) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`telephony.sip.tls.${what}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  if (!tls) return {};
  if ((tls.certFile === null) !== (tls.keyFile === null)) throw new Error('telephony.sip.tls: certFile and keyFile go together');
  const material: TlsMaterial = {};
  const ca = read('caFile', tls.caFile);
  const cert = read('certFile', tls.certFile);
  const key = read('keyFile', tls.keyFile);
  if (ca) material.ca = ca;
  if (cert && key) {
    material.cert = cert;
    material.key = key;
  }
  return material;
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

export async function openSipTransports(opts: SipTransportsOptions): Promise<SipTransports> {
  const { log } = opts;
  const material = readTlsMaterial(opts.tls);
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
  const maxInbound = opts.maxInbound ?? 256;
  let handler: ((msg: IncomingMessage, source: HostPort) => void) | null = null;
  const byId = new Map<string, StreamConnection>();
  const byKey = new Map<string, StreamConnection>();
  let inbound = 0;
  let closed = false;

  const keyOf = (transport: StreamTransportName, host: string, port: number) => `${transport}|${normalizeAddress(host)}|${port}`;
  const connectionOptions: ConnectionOptions = {
    log,
    idleTimeoutMs: opts.idleTimeoutMs ?? 600_000,
    events: {
      onMessage: (conn, msg) => handler?.(msg, conn.remote),
      onClose: (conn) => {
        byId.delete(conn.id);
        for (const key of [keyOf(conn.transport, conn.remote.host, conn.remote.port), ...(conn.dialled ? [keyOf(conn.transport, conn.dialled.host, conn.dialled.port)] : [])]) {
          if (byKey.get(key) === conn) byKey.delete(key);
        }
        if (conn.dialled === null) inbound -= 1;
        else if (conn.failureReason) log.warn({ transport: conn.transport, dest: formatHostPort(conn.dialled), reason: conn.failureReason }, 'SIP connection failed');
      },
    },
  };

  // TCP takes the UDP port number; with port 0 the one UDP got may be taken for TCP: try another.
  const tcp = netServer();
  let udp: SipTransport | undefined;
  for (let attempt = 1; !udp; attempt++) {
    const candidate = await openUdpTransport({ host: opts.host, port: opts.port, log, ...(opts.receiveBufferBytes === undefined ? {} : { receiveBufferBytes: opts.receiveBufferBytes }) });
    try {
      await listen(tcp, opts.host, candidate.local.port);
      udp = candidate;
    } catch (err) {
      await candidate.close();
      if (opts.port !== 0 || attempt >= BIND_TRIES) throw new Error(`SIP TCP listener on ${formatHostPort({ host: opts.host, port: candidate.local.port })}: ${(err as Error).message}`);
    }
  }
  const udpTransport = udp;

  function accept(socket: Socket | TLSSocket, transport: StreamTransportName): void {
    if (closed || inbound >= maxInbound) {
      socket.destroy();
      return;
    }
    inbound += 1;
    const conn = new StreamConnection(socket, transport, null, connectionOptions);
    byId.set(conn.id, conn);
    byKey.set(keyOf(transport, conn.remote.host, conn.remote.port), conn);
  }
  tcp.on('connection', (socket) => accept(socket, 'tcp'));
  tcp.on('error', (err) => log.error({ err }, 'SIP TCP listener error'));

  let tls: Server | null = null;
  let tlsPort: number | null = null;
  if (material.cert && material.key && opts.tls) {
    tls = tlsServer({ cert: material.cert, key: material.key, minVersion: 'TLSv1.2', handshakeTimeout: connectTimeoutMs });
    tls.on('secureConnection', (socket: TLSSocket) => accept(socket, 'tls'));
    // A failed handshake (a scanner, a peer that does not trust us) concerns that client only.
    tls.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake from a client failed'));
    tls.on('error', (err) => log.error({ err }, 'SIP TLS listener error'));
    try {
      tlsPort = await listen(tls, opts.host, opts.tls.port);
    } catch (err) {
      await closeServer(tcp);
      await udpTransport.close();
      throw new Error(`SIP TLS listener on ${formatHostPort({ host: opts.host, port: opts.tls.port })}: ${(err as Error).message}`);
    }
  }

  function connectionFor(transport: StreamTransportName, dest: HostPort): StreamConnection {
    const named = dest.connection === undefined ? undefined : byId.get(dest.connection);
    if (named?.usable) return named;
    const key = keyOf(transport, dest.host, dest.port);
    const existing = byKey.get(key);
    if (existing?.usable) return existing;
    const { connection: _stale, ...target } = dest;
    const conn = dial({ ...connectionOptions, transport, dest: target, tls: material, connectTimeoutMs });
    byId.set(conn.id, conn);
    byKey.set(key, conn);
    return conn;
  }

  udpTransport.onMessage((msg, source) => handler?.(msg, source));

  return {
    local: udpTransport.local,
    receiveBufferBytes: udpTransport.receiveBufferBytes ?? null,
    tlsPort,
    connectionCount: () => byId.size,
    send(data, dest, onError) {
      const transport = dest.transport ?? 'udp';
      if (transport === 'udp') return udpTransport.send(data, dest, onError);
      if (closed) return onError?.('SIP transport closed');
      connectionFor(transport, dest).send(data, onError);
    },
    onMessage(h) {
      handler = h;
    },
    async close() {
      if (closed) return;
      closed = true;
      const servers = [tcp, ...(tls ? [tls] : [])].map(closeServer);
      // Let the last messages (a BYE) leave; each close is bounded by its grace period.
      await Promise.all([...byId.values()].map((c) => c.close()));
      await Promise.all(servers);
      await udpTransport.close();
    },
  };
}
