import type { Logger } from '../../log.js';
import { formatVia, type HostPort } from './headers.js';
import { getHeader, getHeaders, headerList, serialize, type Header, type IncomingRequest, type SipResponse } from './message.js';
import type { Send, Timers } from './transactions.js';

/**
 * Server transactions for the requests a phone sends us in a dialog (RFC 3261 §17.2): answers are
 * kept so a retransmitted request gets the same answer again, a 2xx to a (re-)INVITE is retransmitted
 * until its ACK arrives (§13.3.1.4), and ACKs are absorbed here.
 */

export interface ResponseOptions {
  toTag?: string;
  headers?: ReadonlyArray<readonly [string, string]>;
  body?: string;
}

export interface ServerTransaction {
  readonly request: IncomingRequest;
  respond(status: number, reason: string, opts?: ResponseOptions): void;
}

const MAX_ENTRIES = 10_000;

interface Entry {
  last: string | null;
  dest: HostPort;
  expiry: NodeJS.Timeout | null;
}

/** Where responses go (§18.2.2, RFC 3581 §4): the source address, and its port if rport was asked. */
function responseDestination(req: IncomingRequest, source: HostPort): HostPort {
  const via = req.core.via;
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
  /** 2xx answers to INVITEs awaiting their ACK, by Call-ID and CSeq number. */
  private readonly awaitingAck = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly send: Send,
    private readonly timers: Timers,
    private readonly log: Logger,
  ) {}

  private static key(req: IncomingRequest): string {
    const { via, callId, cseq, from } = req.core;
    const method = req.method === 'ACK' ? 'INVITE' : req.method;
    // RFC 2543 peers have no magic-cookie branch: fall back to the dialog and CSeq (§17.2.3).
    // The CSeq number is in the key too: a retransmission repeats it, while some peers (sipp loops among
    // them) reuse one branch for successive requests, which must not be answered as retransmissions.
    if (via.branch?.startsWith('z9hG4bK')) return `${via.branch}|${via.host}:${via.port ?? ''}|${method}|${cseq.seq}`;
    return `${callId}|${from.tag ?? ''}|${cseq.seq}|${method}|${via.host}:${via.port ?? ''}`;
  }

  /** A new transaction, or null when the request was a retransmission or an ACK (handled here). */
  receive(req: IncomingRequest, source: HostPort): ServerTransaction | null {
    if (req.method === 'ACK') {
      const ackKey = `${req.core.callId}|${req.core.cseq.seq}`;
      const timer = this.awaitingAck.get(ackKey);
      if (timer) {
        clearTimeout(timer);
        this.awaitingAck.delete(ackKey);
      }
      return null;
    }
    const key = ServerTransactions.key(req);
    const existing = this.entries.get(key);
    if (existing) {
      if (existing.last) this.send(existing.last, existing.dest);
      this.log.debug({ method: req.method }, 'retransmitted request answered again');
      return null;
    }
    const entry: Entry = { last: null, dest: responseDestination(req, source), expiry: null };
    // Bounded memory under a request flood: past the cap, answers are simply not kept for retransmissions.
    if (this.entries.size < MAX_ENTRIES) this.entries.set(key, entry);
    return {
      request: req,
      respond: (status, reason, opts) => {
        const data = serialize(buildResponse(req, source, status, reason, opts));
        entry.last = data;
        this.send(data, entry.dest);
        if (status < 200) return;
        if (entry.expiry) clearTimeout(entry.expiry);
        // Timer J / the INVITE equivalent: long enough to absorb every retransmission.
        entry.expiry = setTimeout(() => this.entries.delete(key), 64 * this.timers.t1);
        if (req.method === 'INVITE' && status < 300) this.retransmitUntilAck(req, data, entry.dest);
      },
    };
  }

  private retransmitUntilAck(req: IncomingRequest, data: string, dest: HostPort): void {
    const ackKey = `${req.core.callId}|${req.core.cseq.seq}`;
    const started = Date.now();
    let interval = this.timers.t1;
    const fire = () => {
      if (Date.now() - started >= 64 * this.timers.t1) {
        this.awaitingAck.delete(ackKey);
        this.log.warn({ cseq: req.core.cseq.seq }, 'no ACK for our 2xx to a re-INVITE');
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
