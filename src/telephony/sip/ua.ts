import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import type { Logger } from '../../log.js';
import { ALLOW, dialogKey, type DialogRoute, type SipCore } from './core.js';
import type { HostPort } from './headers.js';
import { InviteAttempt, type InviteRequest, type InviteResult } from './invite.js';
import type { IncomingRequest } from './message.js';
import { ServerTransactions } from './server-transactions.js';
import { ClientTransactions, DEFAULT_TIMERS, type Timers } from './transactions.js';
import { openUdpTransport } from './transport.js';

/**
 * The caller-side SIP user agent: one UDP socket, the transaction layers, and the router that
 * hands each message to its transaction or dialog. Media is not here: the caller supplies the SDP
 * offer and gets the parsed answer back.
 */

export interface SipUserAgentOptions {
  bindHost: string;
  /** 0 = any free port (tests). */
  bindPort: number;
  /** Address written in Via and Contact; defaults to bindHost (or a local interface if that is a wildcard). */
  advertisedHost?: string;
  /** "host:port" (config `telephony.sip.outboundProxy`) where INVITEs go; null = the request-URI's host. */
  outboundProxy: string | null;
  /**
   * "host:port" entries (config `telephony.sip.trustedSources`): more addresses a call's requests may
   * come from, besides where the call's own requests go and the outbound proxy (trunks with several).
   */
  trustedSources?: readonly string[];
  /** T1/T2/T4; small values make tests fast. */
  timers?: Partial<Timers>;
  log: Logger;
  userAgent?: string;
}

export interface SipUserAgent {
  /** Where the socket is bound (the real port when 0 was asked for). */
  readonly local: HostPort;
  invite(req: InviteRequest): Promise<InviteResult>;
  /** Ends live calls (BYE, briefly awaited), abandons pending ones, closes the socket. */
  close(): Promise<void>;
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
  const outboundProxy = opts.outboundProxy === null ? null : parseHostPort(opts.outboundProxy);
  if (opts.outboundProxy !== null && !outboundProxy) throw new Error(`outboundProxy must be "host:port", got ${JSON.stringify(opts.outboundProxy)}`);
  const extraSources = (opts.trustedSources ?? []).map((value) => {
    const hp = parseHostPort(value);
    if (!hp) throw new Error(`trustedSources entries must be "host:port", got ${JSON.stringify(value)}`);
    return hp;
  });
  const timers: Timers = { ...DEFAULT_TIMERS, ...opts.timers };
  const transport = await openUdpTransport({ host: opts.bindHost, port: opts.bindPort, log });
  const send = transport.send.bind(transport);
  const client = new ClientTransactions(send, timers, log);
  const server = new ServerTransactions(send, timers, log);
  const core: SipCore = {
    client,
    server,
    send,
    local: { host: advertisedHost(opts), port: transport.local.port },
    timers,
    userAgent: opts.userAgent ?? 'callpay',
    dialogs: new Map(),
    trustedSources: [...(outboundProxy ? [outboundProxy] : []), ...extraSources],
  };
  const pending = new Set<InviteAttempt>();
  let closed = false;

  /** No dialog of ours: answered statelessly, so unsolicited traffic costs no memory (§8.2.7). */
  function outOfDialog(req: IncomingRequest, source: HostPort): void {
    if (req.method === 'ACK') return; // for a 603 of ours, or for nothing: never answered
    const toTag = server.statelessTag(req);
    if (req.method === 'OPTIONS' && !req.core.to.tag) {
      // Trunks and SBCs probe with OPTIONS: answering keeps us marked as alive.
      return server.stateless(req, source, 200, 'OK', { toTag, headers: [['allow', ALLOW], ['accept', 'application/sdp']] });
    }
    if (req.method === 'INVITE' && !req.core.to.tag) return server.stateless(req, source, 603, 'Decline', { toTag });
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
    async invite(req) {
      if (closed) return { kind: 'failed', callId: '', sipStatus: null, reason: 'SIP user agent closed' };
      const attempt = new InviteAttempt({ core, outboundProxy }, req);
      pending.add(attempt);
      try {
        return await attempt.start();
      } finally {
        pending.delete(attempt);
      }
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
