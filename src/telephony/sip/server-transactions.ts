import { createHmac, randomBytes } from 'node:crypto';
import type { Logger } from '../../log.js';
import { formatVia, type HostPort } from './headers.js';
import { getHeader, getHeaders, headerList, serialize, type Header, type IncomingRequest, type SipResponse } from './message.js';
import { isReliable, type Send, type Timers } from './transactions.js';
import { defaultPort } from './target.js';

/**
 * Server transactions for the requests a phone sends us in a dialog (RFC 3261 §17.2): answers are
 * kept so a retransmitted request gets the same answer again, a final answer to a (re-)INVITE is
 * retransmitted until its ACK arrives (§13.3.1.4, timer G), and ACKs are absorbed here.
 *
 * Only requests of a dialog, from the source it trusts, get a transaction (and memory). Everything
 * else, out-of-dialog probes, strangers' dialogs and refused sources, is answered statelessly
 * (§8.2.7): a flood of unsolicited datagrams leaves nothing behind, and a retransmission of one of
 * them simply gets a fresh answer.
 */

export interface ResponseOptions {
  toTag?: string;
  headers?: ReadonlyArray<readonly [string, string]>;
  body?: string;
}

export interface ServerTransaction {
  readonly request: IncomingRequest;
  /** Where the datagram came from. */
  readonly source: HostPort;
  respond(status: number, reason: string, opts?: ResponseOptions): void;
}

const MAX_ENTRIES = 10_000;

interface Entry {
  last: string | null;
  dest: HostPort;
  expiry: NodeJS.Timeout | null;
}

/**
 * Where responses go (§18.2.2, RFC 3581 §4): the source address, and its port if rport was asked.
 * Over TCP/TLS: back over the connection the request came in on; should it have closed, a new one to
 * the source address and the Via's sent-by port.
 */
function responseDestination(req: IncomingRequest, source: HostPort): HostPort {
  const via = req.core.via;
  if (source.connection !== undefined && source.transport && source.transport !== 'udp') {
    return { host: source.host, port: via.port ?? defaultPort(source.transport), transport: source.transport, connection: source.connection };
  }
  return { host: source.host, port: via.params.has('rport') ? source.port : (via.port ?? 5060) };
}

/** The top Via with received/rport filled in from the datagram's source (§18.2.1, RFC 3581 §4). */
function stampedVia(req: IncomingRequest, source: HostPort): string {
  const via = req.core.via;
  const params = new Map(via.params);
  if (params.has('rport')) {
    params.set('rport', String(source.port));
    params.set('received', source.host);
  } else if (via.host.replace(/^\[|\]$/g, '') !== source.host) {
    params.set('received', source.host);
  }
  return formatVia({ transport: via.transport, host: via.host, port: via.port, params });
}

export function buildResponse(req: IncomingRequest, source: HostPort, status: number, reason: string, opts: ResponseOptions = {}): SipResponse {
  const [, ...lowerVias] = getHeaders(req, 'via');
  const to = req.core.to.tag || !opts.toTag || status === 100 ? getHeader(req, 'to') : `${getHeader(req, 'to')};tag=${opts.toTag}`;
  const headers: Header[] = [
    { name: 'via', value: stampedVia(req, source) },
    ...lowerVias.map((value) => ({ name: 'via', value })),
    ...headerList([
      ['from', getHeader(req, 'from')],
      ['to', to],
      ['call-id', req.core.callId],
      ['cseq', `${req.core.cseq.seq} ${req.core.cseq.method}`],
      ...(opts.headers ?? []),
    ]),
  ];
  return { type: 'response', status, reason, headers, body: opts.body ?? '' };
}

export class ServerTransactions {
  private readonly entries = new Map<string, Entry>();
  /** Final answers to INVITEs awaiting their ACK, by Call-ID and CSeq number. */
  private readonly awaitingAck = new Map<string, NodeJS.Timeout>();
  private readonly tagSecret = randomBytes(16);

  constructor(
    private readonly send: Send,
    private readonly timers: Timers,
    private readonly log: Logger,
  ) {}

  private static key(req: IncomingRequest, as?: string): string {
    const { via, callId, cseq, from } = req.core;
    const method = as ?? (req.method === 'ACK' ? 'INVITE' : req.method);
    // RFC 2543 peers have no magic-cookie branch: fall back to the dialog and CSeq (§17.2.3).
    // The CSeq number is in the key too: a retransmission repeats it, while some peers (sipp loops among
    // them) reuse one branch for successive requests, which must not be answered as retransmissions.
    if (via.branch?.startsWith('z9hG4bK')) return `${via.branch}|${via.host}:${via.port ?? ''}|${method}|${cseq.seq}`;
    return `${callId}|${from.tag ?? ''}|${cseq.seq}|${method}|${via.host}:${via.port ?? ''}`;
  }

  /** An ACK: stops the retransmission of the final answer it acknowledges, if any. */
  ack(req: IncomingRequest): void {
    const ackKey = `${req.core.callId}|${req.core.cseq.seq}`;
    const timer = this.awaitingAck.get(ackKey);
    if (timer) {
      clearTimeout(timer);
      this.awaitingAck.delete(ackKey);
    }
  }

  /** True when `req` repeats a request already answered: the answer has been sent again. */
  retransmission(req: IncomingRequest): boolean {
    const existing = this.entries.get(ServerTransactions.key(req));
    if (!existing) return false;
    if (existing.last) this.send(existing.last, existing.dest);
    this.log.debug({ method: req.method }, 'retransmitted request answered again');
    return true;
  }

  /** Whether a CANCEL matches an INVITE transaction of ours (§9.2: same branch, sent-by and CSeq number). */
  hasInvite(cancel: IncomingRequest): boolean {
    return this.entries.has(ServerTransactions.key(cancel, 'INVITE'));
  }

  /** A new transaction for a request of a dialog (not a retransmission, not an ACK). */
  begin(req: IncomingRequest, source: HostPort): ServerTransaction {
    const key = ServerTransactions.key(req);
    const entry: Entry = { last: null, dest: responseDestination(req, source), expiry: null };
    // Bounded memory under a request flood: past the cap, answers are simply not kept for retransmissions.
    if (this.entries.size < MAX_ENTRIES) this.entries.set(key, entry);
    return {
      request: req,
      source,
      respond: (status, reason, opts) => {
        const data = serialize(buildResponse(req, source, status, reason, opts));
        entry.last = data;
        this.send(data, entry.dest);
        if (status < 200) return;
        if (entry.expiry) clearTimeout(entry.expiry);
        // Timer J / the INVITE equivalent: long enough to absorb every retransmission.
        entry.expiry = setTimeout(() => this.entries.delete(key), 64 * this.timers.t1);
        // Timer G: a stream delivers the answer, nothing to retransmit (§17.2.1).
        if (req.method === 'INVITE' && !isReliable(entry.dest)) this.retransmitUntilAck(req, data, entry.dest);
      },
    };
  }

  /**
   * The To tag of a stateless answer: the same for every retransmission of a request (§8.2.6.2), yet
   * nothing is stored; a keyed hash of what identifies the request, under a secret of this UA.
   */
  statelessTag(req: IncomingRequest): string {
    const { callId, from, via, cseq } = req.core;
    return createHmac('sha256', this.tagSecret).update(`${callId}|${from.tag ?? ''}|${via.branch ?? ''}|${cseq.seq}`).digest('hex').slice(0, 16);
  }

  /**
   * Answers without keeping anything. `toSource` sends the answer to the datagram's source whatever its
   * Via says: a refused request must not make us send to a third party named in its headers.
   */
  stateless(req: IncomingRequest, source: HostPort, status: number, reason: string, opts: ResponseOptions & { toSource?: boolean } = {}): void {
    const dest = opts.toSource ? source : responseDestination(req, source);
    this.send(serialize(buildResponse(req, source, status, reason, opts)), dest);
  }

  private retransmitUntilAck(req: IncomingRequest, data: string, dest: HostPort): void {
    const ackKey = `${req.core.callId}|${req.core.cseq.seq}`;
    const started = Date.now();
    let interval = this.timers.t1;
    const fire = () => {
      if (Date.now() - started >= 64 * this.timers.t1) {
        this.awaitingAck.delete(ackKey);
        this.log.warn({ cseq: req.core.cseq.seq }, 'no ACK for our final answer to a re-INVITE');
        return;
      }
      this.send(data, dest);
      interval = Math.min(interval * 2, this.timers.t2);
      this.awaitingAck.set(ackKey, setTimeout(fire, interval));
    };
    this.awaitingAck.set(ackKey, setTimeout(fire, interval));
  }

  close(): void {
    for (const e of this.entries.values()) if (e.expiry) clearTimeout(e.expiry);
    for (const t of this.awaitingAck.values()) clearTimeout(t);
    this.entries.clear();
    this.awaitingAck.clear();
  }
}
