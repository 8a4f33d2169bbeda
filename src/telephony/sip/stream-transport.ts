import { randomBytes } from 'node:crypto';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Logger } from '../../log.js';
import type { HostPort } from './headers.js';
import { parseMessage, type IncomingMessage } from './message.js';
import { StreamFramer } from './stream-framing.js';
import { normalizeAddress } from './trust.js';

/**
 * One SIP connection over TCP or TLS (RFC 3261 §18, §26.2): framing (stream-framing.ts), keep-alive
 * pongs, an idle timeout, and a queue for what is sent while it is still connecting. Which connection
 * to use for what is transports.ts's business.
 */

export type StreamTransportName = 'tcp' | 'tls';

/** Our certificate and the CAs we trust, read from the files of `telephony.sip.tls`. */
export interface TlsMaterial {
  /** PEM CA bundle for the far end's certificate; undefined = the system's CAs. */
  ca?: Buffer;
  /** Our certificate and key (listener, and client certificate); undefined = none. */
  cert?: Buffer;
  key?: Buffer;
}

export interface ConnectionEvents {
  onMessage(conn: StreamConnection, msg: IncomingMessage): void;
  onClose(conn: StreamConnection): void;
}

export interface ConnectionOptions {
  log: Logger;
  events: ConnectionEvents;
  /** No byte either way for this long: the connection is closed (it is re-opened when needed). */
  idleTimeoutMs: number;
}

/** Called when what was handed to `send` could not be sent: the reason, for the log and the outcome. */
export type SendFailure = (reason: string) => void;

const MAX_QUEUED = 64;
/** Senders told when the connection closes; the oldest are forgotten (their transactions are long over). */
const MAX_WATCHERS = 64;

export class StreamConnection {
  readonly id = randomBytes(6).toString('hex');
  /** Where messages from it come from, as handed to the UA: sending to this HostPort uses this connection. */
  readonly remote: HostPort;
  private ready: boolean;
  private closedFlag = false;
  private failure: string | null = null;
  private readonly queue: string[] = [];
  private readonly watchers: SendFailure[] = [];
  private closing = false;
  private readonly framer = new StreamFramer();
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Socket | TLSSocket,
    readonly transport: StreamTransportName,
    /** Outbound: the destination asked for; inbound: null (the peer's address is the socket's). */
    readonly dialled: HostPort | null,
    private readonly opts: ConnectionOptions,
  ) {
    this.ready = dialled === null;
    const host = normalizeAddress(dialled?.host ?? socket.remoteAddress ?? '0.0.0.0');
    this.remote = { host, port: dialled?.port ?? socket.remotePort ?? 0, transport, connection: this.id };
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.failure ??= describeError(err);
    });
    socket.on('close', () => this.closed());
    this.touch();
  }

  /** False once either side has started closing it: a new message then needs a new connection. */
  get usable(): boolean {
    return !this.closedFlag && !this.closing && !this.socket.destroyed && this.socket.writable;
  }

  /** Outbound only: the TCP or TLS handshake is done; the queued messages go now. */
  established(): void {
    if (this.closedFlag) return;
    this.ready = true;
    // The peer as seen on the socket (a name resolved), for trust checks on its requests.
    if (this.socket.remoteAddress) this.remote.host = normalizeAddress(this.socket.remoteAddress);
    for (const data of this.queue.splice(0)) this.write(data);
  }

  /** Ends the connection with a reason (connect timeout, framing error...). */
  fail(reason: string): void {
    this.failure ??= reason;
    this.socket.destroy();
  }

  /**
   * Sends, or queues until connected. `onError` hears of a failed write, and of the connection closing
   * later (a request written into a connection the far end was closing is lost, and over a stream
   * nothing retransmits it): the transaction decides whether that still matters (§17.1.4).
   */
  send(data: string, onError?: SendFailure): void {
    if (!this.usable) return onError?.(this.failure ?? 'connection closed');
    if (onError) {
      this.watchers.push(onError);
      if (this.watchers.length > MAX_WATCHERS) this.watchers.shift();
    }
    if (!this.ready) {
      if (this.queue.length >= MAX_QUEUED) return onError?.('too many messages waiting for the connection');
      this.queue.push(data);
      return;
    }
    this.write(data, onError);
  }

  /** Closes gracefully (FIN), then for good after a short grace. */
  close(graceMs = 200): Promise<void> {
    if (this.closedFlag) return Promise.resolve();
    this.closing = true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.socket.destroy(), graceMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.end();
    });
  }

  private write(data: string, onError?: SendFailure): void {
    this.touch();
    this.socket.write(data, (err) => {
      if (err) onError?.(`write failed: ${describeError(err)}`);
    });
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    if (this.closedFlag) return;
    this.idleTimer = setTimeout(() => {
      this.opts.log.debug({ connection: this.id, transport: this.transport }, 'idle SIP connection closed');
      void this.close();
    }, this.opts.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private received(chunk: Buffer): void {
    this.touch();
    for (const frame of this.framer.push(chunk)) {
      if (frame.kind === 'ping') {
        this.socket.write('\r\n'); // RFC 5626 §3.5.1 pong
      } else if (frame.kind === 'error') {
        this.opts.log.warn({ connection: this.id, transport: this.transport, error: frame.code }, 'SIP stream framing broken: connection closed');
        this.fail(`framing: ${frame.code}`);
      } else {
        const parsed = parseMessage(frame.data);
        if (!parsed.ok) {
          this.opts.log.debug({ connection: this.id, error: parsed.error, bytes: frame.data.length }, 'dropped malformed SIP message from a stream');
          continue;
        }
        try {
          this.opts.events.onMessage(this, parsed.message);
        } catch (err) {
          this.opts.log.error({ err }, 'SIP message handler failed');
        }
      }
    }
  }

  private closed(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    clearTimeout(this.idleTimer);
    const reason = this.failure ?? (this.ready ? 'connection closed' : 'connection closed before it was established');
    this.queue.length = 0;
    for (const onError of this.watchers.splice(0)) onError(reason);
    this.opts.events.onClose(this);
  }

  /** Why it closed, if it failed. */
  get failureReason(): string | null {
    return this.failure;
  }
}

function describeError(err: NodeJS.ErrnoException): string {
  return err.code ? `${err.code}: ${err.message}` : err.message;
}

export interface DialOptions extends ConnectionOptions {
  transport: StreamTransportName;
  dest: HostPort;
  tls: TlsMaterial;
  connectTimeoutMs: number;
}

/**
 * Opens a connection to `dest`. For TLS the far end's certificate must chain to the configured CA
 * (or the system's) and name `dest.serverName ?? dest.host` (an IP address: an IP SAN); anything else
 * fails the connection. Certificate checking is never turned off.
 */
export function dial(opts: DialOptions): StreamConnection {
  const { dest } = opts;
  let socket: Socket | TLSSocket;
  if (opts.transport === 'tls') {
    const name = dest.serverName ?? dest.host;
    socket = tlsConnect({
      host: dest.host,
      port: dest.port,
      // SNI carries names only (RFC 6066 §3).
      ...(isIP(name) === 0 ? { servername: name } : {}),
      ...(opts.tls.ca ? { ca: opts.tls.ca } : {}),
      ...(opts.tls.cert && opts.tls.key ? { cert: opts.tls.cert, key: opts.tls.key } : {}),
      minVersion: 'TLSv1.2',
      rejectUnauthorized: true,
      checkServerIdentity: (_host, cert) => checkServerIdentity(name, cert),
    });
  } else {
    socket = netConnect({ host: dest.host, port: dest.port });
  }
  const conn = new StreamConnection(socket, opts.transport, dest, opts);
  const timer = setTimeout(() => conn.fail(`no connection within ${opts.connectTimeoutMs} ms`), opts.connectTimeoutMs);
  socket.once(opts.transport === 'tls' ? 'secureConnect' : 'connect', () => {
    clearTimeout(timer);
    conn.established();
  });
  socket.once('close', () => clearTimeout(timer));
  return conn;
}
