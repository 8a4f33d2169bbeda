import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import type { Logger } from '../../log.js';
import { ALLOW, dialogKey, type DialogRoute, type SipCore } from './core.js';
import type { HostPort } from './headers.js';
import { InviteAttempt, type InviteRequest, type InviteResult } from './invite.js';
import { sendOptions, type OptionsResult } from './options.js';
import type { IncomingRequest } from './message.js';
import { ServerTransactions } from './server-transactions.js';
import { MIN_SE } from './session-timer.js';
import { ClientTransactions, DEFAULT_TIMERS, type Timers } from './transactions.js';
import { createSipDns, resolveTarget } from './resolve.js';
import { hopFor, parseTarget, type SipTarget } from './target.js';
import { openSipTransports, type SipTlsOptions } from './transports.js';
import { TrustedSources } from './trust.js';
import { InboundInvites, type InboundInvite } from './uas.js';

/**
 * The caller-side SIP user agent: its transports (UDP, TCP, TLS), the transaction layers, and the
 * router that hands each message to its transaction or dialog. Media is not here: the caller
 * supplies the SDP offer and gets the parsed answer back. With `inbound`, it answers calls too
 * (uas.ts, for consumer self-service); otherwise new INVITEs are declined.
 */

export interface SipUserAgentOptions {
  bindHost: string;
  /** 0 = any free port (tests). */
  bindPort: number;
  /** Address written in Via and Contact; defaults to bindHost (or a local interface if that is a wildcard). */
  advertisedHost?: string;
  /**
   * Where INVITEs go (config `telephony.sip.outboundProxy`): "host:port", a host name, or a SIP URI
   * naming the transport (target.ts); null = the request-URI's host.
   */
  outboundProxy: string | null;
  /**
   * "host:port" entries (config `telephony.sip.trustedSources`): more addresses a call's requests may
   * come from, besides where the call's own requests go and the outbound proxy (trunks with several).
   */
  trustedSources?: readonly string[];
  /** DNS servers for RFC 3263 lookups of the trunk ("ip", "ip:port"; config `telephony.sip.dnsServers`); empty = the system's. */
  dnsServers?: readonly string[];
  /** Bound on one DNS lookup. Default 2000 ms. */
  dnsTimeoutMs?: number;
  /** Config `telephony.sip.tls`: CA, our certificate, TLS listener port; absent = TLS client with the system's CAs, no listener. */
  tls?: SipTlsOptions | null;
  /** TCP/TLS: bound on connecting, and how long an unused connection stays open (transports.ts defaults). */
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Session-Expires our INVITEs ask for (RFC 4028; config `telephony.sip.sessionExpiresSeconds`). Default 1800. */
  sessionExpiresSeconds?: number;
  /** T1/T2/T4; small values make tests fast. */
  timers?: Partial<Timers>;
  /** The UDP socket's SO_RCVBUF in bytes (transport.ts); absent = the system default. */
  receiveBufferBytes?: number;
  log: Logger;
  userAgent?: string;
  /**
   * Answer calls to us (consumer self-service, config `selfService.enabled`): new INVITEs go to the
   * `onInbound` handler. Absent/false: they are declined (603), as before.
   */
  inbound?: boolean;
}

export interface SipUserAgent {
  /** Where the socket is bound (the real port when 0 was asked for); TCP listens on the same port. */
  readonly local: HostPort;
  /** The TLS listener's port; null when no certificate is configured. */
  readonly tlsPort: number | null;
  /** The UDP receive buffer the kernel granted (bytes), null when unknown. */
  readonly receiveBufferBytes: number | null;
  invite(req: InviteRequest): Promise<InviteResult>;
  /** An OPTIONS to where INVITEs for `requestUri` go (options.ts): is the SIP path up? */
  options(requestUri: string, timeoutMs: number): Promise<OptionsResult>;
  /** Ends live calls (BYE, briefly awaited), abandons pending ones, closes the socket. */
  close(): Promise<void>;
  /** Where new INVITEs go when `inbound` is set; until a handler is set they get 480. */
  onInbound?(handler: (invite: InboundInvite) => void): void;
}

export function parseHostPort(value: string): HostPort | null {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$|^([^\s:[\]]+):(\d{1,5})$/.exec(value);
  const host = m?.[1] ?? m?.[3];
  const port = Number(m?.[2] ?? m?.[4]);
  return host && port >= 1 && port <= 65535 ? { host, port } : null;
}

function advertisedHost(opts: SipUserAgentOptions): string {
  if (opts.advertisedHost) return opts.advertisedHost;
  if (opts.bindHost !== '0.0.0.0' && opts.bindHost !== '::') return opts.bindHost;
  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && !i.internal && i.family === (isIP(opts.bindHost) === 6 ? 'IPv6' : 'IPv4'));
  opts.log.warn({ chosen: external?.address ?? '127.0.0.1' }, 'SIP bound to a wildcard address: Contact uses the first interface');
  return external?.address ?? '127.0.0.1';
}

export async function createSipUserAgent(opts: SipUserAgentOptions): Promise<SipUserAgent> {
  const log = opts.log;
  const outboundProxy = opts.outboundProxy === null ? null : parseTarget(opts.outboundProxy);
  if (opts.outboundProxy !== null && !outboundProxy) throw new Error(`outboundProxy must be "host:port", a host name or a SIP URI, got ${JSON.stringify(opts.outboundProxy)}`);
  const extraSources = (opts.trustedSources ?? []).map((value) => {
    const hp = parseHostPort(value);
    if (!hp) throw new Error(`trustedSources entries must be "host:port", got ${JSON.stringify(value)}`);
    return hp;
  });
  const timers: Timers = { ...DEFAULT_TIMERS, ...opts.timers };
  const transport = await openSipTransports({
    host: opts.bindHost, port: opts.bindPort, tls: opts.tls ?? null, log,
    ...(opts.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: opts.connectTimeoutMs }),
    ...(opts.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: opts.idleTimeoutMs }),
    ...(opts.receiveBufferBytes === undefined ? {} : { receiveBufferBytes: opts.receiveBufferBytes }),
  });
  const send = transport.send.bind(transport);
  const client = new ClientTransactions(send, timers, log);
  const server = new ServerTransactions(send, timers, log);
  const core: SipCore = {
    client,
    server,
    send,
    local: { host: advertisedHost(opts), port: transport.local.port },
    tlsPort: transport.tlsPort,
    timers,
    userAgent: opts.userAgent ?? 'callpay',
    dialogs: new Map(),
    // A proxy given by name is trusted at the addresses each call resolves it to (invite.ts → dialog).
    trustedSources: [...(outboundProxy?.numeric ? [hopFor(outboundProxy)] : []), ...extraSources],
    sessionExpires: Math.max(MIN_SE, opts.sessionExpiresSeconds ?? 1800),
  };
  const dns = createSipDns({ servers: opts.dnsServers ?? [], timeoutMs: opts.dnsTimeoutMs ?? 2000 });
  // Hops the sockets can reach: the family of the address we are bound to.
  const families = isIP(opts.bindHost) === 6 ? ([6] as const) : ([4] as const);
  const locate = (target: SipTarget, callLog: Logger) => resolveTarget(target, dns, { families, log: callLog });
  const pending = new Set<InviteAttempt>();
  let closed = false;
  let inboundHandler: ((invite: InboundInvite) => void) | null = null;
  const inbound = opts.inbound
    ? new InboundInvites(core, new TrustedSources(core.trustedSources), log, (invite) => {
      if (closed || !inboundHandler) return invite.reject(480, 'Temporarily Unavailable');
      inboundHandler(invite);
    })
    : null;

  /** No dialog of ours: answered statelessly, so unsolicited traffic costs no memory (§8.2.7). */
  function outOfDialog(req: IncomingRequest, source: HostPort): void {
    if (req.method === 'ACK') return server.ack(req); // for a refusal of ours (stops its retransmission), or for nothing
    const toTag = server.statelessTag(req);
    if (req.method === 'OPTIONS' && !req.core.to.tag) {
      // Trunks and SBCs probe with OPTIONS: answering keeps us marked as alive.
      return server.stateless(req, source, 200, 'OK', { toTag, headers: [['allow', ALLOW], ['accept', 'application/sdp']] });
    }
    if (req.method === 'INVITE' && !req.core.to.tag) {
      if (inbound) return inbound.receive(req, source);
      return server.stateless(req, source, 603, 'Decline', { toTag });
    }
    if (req.method === 'CANCEL' && !req.core.to.tag && inbound?.cancel(req, source)) return;
    server.stateless(req, source, 481, 'Call/Transaction Does Not Exist', { toTag });
  }

  function inDialog(dialog: DialogRoute, req: IncomingRequest, source: HostPort): void {
    if (!dialog.admits(req, source)) {
      // A forged or stray request: refused where it came from, nothing of the call touched (issue 10).
      if (req.method !== 'ACK') server.stateless(req, source, 403, 'Forbidden', { toSource: true });
      return;
    }
    if (req.method === 'ACK') {
      server.ack(req);
      return dialog.handleAck(req);
    }
    if (server.retransmission(req)) return;
    dialog.handleRequest(server.begin(req, source));
  }

  transport.onMessage((msg, source) => {
    if (msg.type === 'response') {
      if (!client.receive(msg)) log.debug({ sipStatus: msg.status, method: msg.core.cseq.method, source }, 'response for no known transaction dropped');
      return;
    }
    const dialog = core.dialogs.get(dialogKey(msg.core.callId, msg.core.to.tag ?? '', msg.core.from.tag ?? ''));
    if (dialog) return inDialog(dialog, msg, source);
    // A dialog that just ended still answers retransmissions of its last requests (a BYE's 200).
    if (msg.method !== 'ACK' && server.retransmission(msg)) return;
    outOfDialog(msg, source);
  });

  return {
    local: transport.local,
    tlsPort: transport.tlsPort,
    receiveBufferBytes: transport.receiveBufferBytes ?? null,
    async invite(req) {
      if (closed) return { kind: 'failed', callId: '', sipStatus: null, reason: 'SIP user agent closed' };
      const attempt = new InviteAttempt({ core, outboundProxy, locate }, req);
      pending.add(attempt);
      try {
        return await attempt.start();
      } finally {
        pending.delete(attempt);
      }
    },
    onInbound(handler) {
      inboundHandler = handler;
    },
    options(requestUri, timeoutMs) {
      return sendOptions({ core, outboundProxy, locate, log }, requestUri, timeoutMs);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const attempt of pending) attempt.shutdown();
      const byes = Promise.all([...core.dialogs.values()].map((d) => d.bye()));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([byes, new Promise((r) => (timer = setTimeout(r, Math.min(64 * timers.t1, 2000))))]);
      clearTimeout(timer);
      client.close();
      server.close();
      await transport.close();
    },
  };
}
