import { readFileSync } from 'node:fs';
import { connect as netConnect, createServer as netServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as tlsServer, type TLSSocket } from 'node:tls';
import { getHeader, parseMessage, type IncomingMessage, type IncomingRequest } from '../../src/telephony/sip/message.js';
import { StreamFramer } from '../../src/telephony/sip/stream-framing.js';
import { inDialogRequestText, responseText, type InDialogOptions } from './fake-phone.js';
import { Inbox } from './inbox.js';

/**
 * A fake phone (or edge proxy) over TCP or TLS for the user agent's stream-transport tests: a real
 * listener on 127.0.0.1 that frames what arrives with Content-Length, records every message with the
 * connection it came on, and answers or sends what the test tells it to, over the connection it
 * chooses. sipp plays the phone over TCP elsewhere; Debian's sipp has no TLS, hence this.
 */

export interface StreamReceived {
  msg: IncomingMessage;
  raw: string;
  /** The connection it came on (index in `connections`). */
  conn: number;
  at: number;
}

type Req = StreamReceived & { msg: IncomingRequest };

export interface StreamPhoneTls {
  certFile: string;
  keyFile: string;
  /** CA for client certificates; with requestCert, a client without a certificate it signed is refused. */
  caFile?: string;
  requestCert?: boolean;
}

export class StreamPhone {
  readonly all: StreamReceived[] = [];
  /** Every connection, accepted or opened by the phone, in order. */
  readonly connections: Array<Socket | TLSSocket> = [];
  /** Client certificate subjects (CN) seen on accepted TLS connections; null = none presented. */
  readonly clientCerts: Array<string | null> = [];
  /** Answer BYEs by itself (set while the UA closes). */
  answerByes = false;
  private readonly inbox = new Inbox<StreamReceived>('the stream phone');

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly transport: 'tcp' | 'tls',
  ) {}

  static async start(tls?: StreamPhoneTls): Promise<StreamPhone> {
    const server = tls
      ? tlsServer({
          cert: readFileSync(tls.certFile),
          key: readFileSync(tls.keyFile),
          ...(tls.caFile ? { ca: readFileSync(tls.caFile) } : {}),
          requestCert: tls.requestCert ?? false,
          rejectUnauthorized: tls.requestCert ?? false,
        })
      : netServer();
    server.on('tlsClientError', () => {}); // a refused handshake is what some tests expect
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const phone = new StreamPhone(server, typeof address === 'object' && address ? address.port : 0, tls ? 'tls' : 'tcp');
    server.on(tls ? 'secureConnection' : 'connection', (socket: Socket | TLSSocket) => {
      if ('getPeerCertificate' in socket) {
        const cert = socket.getPeerCertificate();
        phone.clientCerts.push(cert && typeof cert.subject?.CN === 'string' ? cert.subject.CN : null);
      }
      phone.adopt(socket);
    });
    return phone;
  }

  /** "sip:phone@127.0.0.1:<port>;transport=tcp", or "sips:phone@127.0.0.1:<port>". */
  uri(user = 'phone'): string {
    return this.transport === 'tls' ? `sips:${user}@127.0.0.1:${this.port}` : `sip:${user}@127.0.0.1:${this.port};transport=tcp`;
  }

  private adopt(socket: Socket | TLSSocket): number {
    const index = this.connections.push(socket) - 1;
    const framer = new StreamFramer();
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      for (const frame of framer.push(chunk)) {
        if (frame.kind !== 'message') throw new Error(`the UA broke the stream framing: ${frame.kind}`);
        const parsed = parseMessage(frame.data);
        if (!parsed.ok) throw new Error(`the UA sent a malformed message: ${parsed.error.code}`);
        const r: StreamReceived = { msg: parsed.message, raw: frame.data.toString(), conn: index, at: Date.now() };
        this.all.push(r);
        if (this.answerByes && r.msg.type === 'request' && r.msg.method === 'BYE') this.respond(r, 200, 'OK');
        this.inbox.push(r);
      }
    });
    return index;
  }

  /** A new connection from the phone to `port` (the UA's listener), from an ephemeral port (of `localAddress`, default any). */
  async connect(port: number, opts: { tls?: { caFile: string }; localAddress?: string } = {}): Promise<number> {
    const from = opts.localAddress === undefined ? {} : { localAddress: opts.localAddress };
    const socket = opts.tls
      ? tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(opts.tls.caFile), ...from })
      : netConnect({ host: '127.0.0.1', port, ...from });
    await new Promise<void>((resolve, reject) => {
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return this.adopt(socket);
  }

  next(pred: (r: StreamReceived) => boolean, timeoutMs = 3000): Promise<StreamReceived> {
    return this.inbox.next(pred, timeoutMs);
  }

  async request(method: string, timeoutMs?: number): Promise<Req> {
    return (await this.next((r) => r.msg.type === 'request' && r.msg.method === method, timeoutMs)) as Req;
  }

  response(status: number, method: string, timeoutMs?: number): Promise<StreamReceived> {
    return this.next((r) => r.msg.type === 'response' && r.msg.status === status && r.msg.core.cseq.method === method, timeoutMs);
  }

  requests(method: string): Req[] {
    return this.all.filter((r): r is Req => r.msg.type === 'request' && r.msg.method === method);
  }

  send(text: string, conn: number): void {
    this.connections[conn]?.write(text);
  }

  /** Answers a request over the connection it came on. */
  respond(req: StreamReceived, status: number, reason: string, opts: { toTag?: string; body?: string; headers?: string[] } = {}): string {
    const text = responseText(req.msg, status, reason, opts);
    this.send(text, req.conn);
    return text;
  }

  /** A request inside the dialog the INVITE `invite` set up (the phone answered it with `toTag`). */
  dialogRequest(invite: Req, toTag: string, method: string, cseq: number, opts: InDialogOptions = {}): string {
    const requestUri = getHeader(invite.msg, 'contact')?.replace(/^<|>$/g, '') ?? 'sip:callpay@127.0.0.1';
    return inDialogRequestText(invite, toTag, method, cseq, { requestUri, via: `${this.transport === 'tls' ? 'TLS' : 'TCP'} 127.0.0.1:${this.port}` }, opts);
  }

  /** Closes one connection from the phone's side (FIN). */
  hangUpConnection(conn: number): void {
    this.connections[conn]?.end();
  }

  async close(): Promise<void> {
    for (const socket of this.connections) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
