import type { Logger } from '../../log.js';
import { parseVia, type HostPort } from './headers.js';
import { getHeader, getHeaders, headerList, serialize, type IncomingResponse, type SipRequest } from './message.js';

/**
 * Client transactions over UDP, TCP and TLS (RFC 3261 §17.1, with RFC 6026's Accepted state so that retransmitted
 * 2xx still reach the UA, which re-sends its ACK). No sockets here: the UA passes `send`.
 */

export interface Timers {
  /** RTT estimate; 500 ms in production, smaller in tests. */
  t1: number;
  /** Longest retransmit interval for non-INVITE requests. */
  t2: number;
  /** How long a message may stay in the network (Timer K). */
  t4: number;
}

export const DEFAULT_TIMERS: Timers = { t1: 500, t2: 4000, t4: 5000 };

/** Hands a message to the transport; over TCP/TLS `onError` hears that it could not be sent (§17.1.4). */
export type Send = (data: string, dest: HostPort, onError?: (reason: string) => void) => void;

/** TCP and TLS: no retransmissions from us (§17.1.1.2, §17.1.2.2, §17.2.1), no absorbing time after. */
export function isReliable(dest: HostPort): boolean {
  return dest.transport === 'tcp' || dest.transport === 'tls';
}

export interface InviteTransactionEvents {
  /** Every response the UA must see: 1xx, the final response, and each 2xx retransmission. */
  onResponse(res: IncomingResponse): void;
  /** Timer B: no response at all to the INVITE. */
  onTimeout(): void;
  /** TCP/TLS: the connection could not be opened (refused, timed out, certificate refused) or broke. Default: onTimeout. */
  onTransportError?(reason: string): void;
}

type State = 'calling' | 'trying' | 'proceeding' | 'accepted' | 'completed' | 'terminated';

interface ClientTx {
  state: State;
  receive(res: IncomingResponse): void;
  stop(): void;
}

export function topBranch(req: SipRequest): string {
  const via = parseVia(getHeader(req, 'via') ?? '');
  if (!via?.branch) throw new Error('request without a Via branch'); // our own requests always carry one
  return via.branch;
}

/** ACK for a non-2xx final response: part of the INVITE transaction, same branch (§17.1.1.3). */
export function ackForNon2xx(invite: SipRequest, res: IncomingResponse): SipRequest {
  return requestLikeInvite(invite, 'ACK', getHeader(res, 'to'));
}

/**
 * A CANCEL (§9.1) or the ACK of a non-2xx (§17.1.1.3) copies the INVITE's Request-URI, top Via,
 * From, Call-ID, CSeq number and Route; only the To header (the response's, for the ACK) differs.
 */
export function requestLikeInvite(invite: SipRequest, method: 'ACK' | 'CANCEL', to: string | undefined): SipRequest {
  const cseq = getHeader(invite, 'cseq')?.split(/\s+/)[0] ?? '1';
  return {
    type: 'request',
    method,
    uri: invite.uri,
    headers: [
      ...headerList([
        ['via', getHeader(invite, 'via')],
        ['max-forwards', '70'],
        ['from', getHeader(invite, 'from')],
        ['to', to],
        ['call-id', getHeader(invite, 'call-id')],
        ['cseq', `${cseq} ${method}`],
      ]),
      ...getHeaders(invite, 'route').map((value) => ({ name: 'route', value })),
    ],
    body: '',
  };
}

export class ClientTransactions {
  private readonly live = new Map<string, ClientTx>();
  private closed = false;

  constructor(
    private readonly send: Send,
    private readonly timers: Timers,
    private readonly log: Logger,
  ) {}

  /** Passes a response to its transaction (branch + CSeq method, §17.1.3); false if none matches. */
  receive(res: IncomingResponse): boolean {
    const tx = res.core.via.branch ? this.live.get(`${res.core.via.branch}|${res.core.cseq.method}`) : undefined;
    if (!tx) return false;
    tx.receive(res);
    return true;
  }

  /** Starts an INVITE transaction; the function it returns abandons it (e.g. a CANCEL never answered). */
  invite(request: SipRequest, dest: HostPort, events: InviteTransactionEvents): () => void {
    if (this.closed) {
      queueMicrotask(() => events.onTimeout());
      return () => {};
    }
    const key = `${topBranch(request)}|INVITE`;
    const data = serialize(request);
    const { t1 } = this.timers;
    const reliable = isReliable(dest);
    let ack: string | null = null;
    let timerA: NodeJS.Timeout | undefined;
    let interval = t1;
    const retransmit = () => {
      this.send(data, dest);
      interval *= 2; // INVITE retransmissions are not capped at T2 (§17.1.1.2)
      timerA = setTimeout(retransmit, interval);
    };
    let lifetime = setTimeout(() => {
      if (tx.state !== 'calling') return;
      this.end(key, tx);
      this.log.debug({ method: 'INVITE' }, 'timer B: no response');
      events.onTimeout();
    }, 64 * t1);
    const tx: ClientTx = {
      state: 'calling',
      receive: (res) => {
        if (tx.state === 'terminated') return;
        if (res.status < 200) {
          if (tx.state !== 'calling' && tx.state !== 'proceeding') return;
          tx.state = 'proceeding';
          clearTimeout(timerA);
          clearTimeout(lifetime); // no timer B once the far end has answered at all
          events.onResponse(res);
        } else if (res.status < 300) {
          if (tx.state === 'completed') return;
          if (tx.state !== 'accepted') {
            tx.state = 'accepted';
            clearTimeout(timerA);
            clearTimeout(lifetime);
            lifetime = setTimeout(() => this.end(key, tx), 64 * t1); // RFC 6026 timer M
          }
          events.onResponse(res);
        } else if (tx.state === 'completed') {
          if (ack) this.send(ack, dest); // a retransmitted final response: ACK again, tell nobody
        } else if (tx.state !== 'accepted') {
          tx.state = 'completed';
          clearTimeout(timerA);
          clearTimeout(lifetime);
          ack = serialize(ackForNon2xx(request, res));
          this.send(ack, dest);
          // Timer D (>= 32 s at T1 = 500 ms) absorbs retransmitted finals; none come over a stream: zero.
          lifetime = setTimeout(() => this.end(key, tx), reliable ? 0 : 64 * t1);
          events.onResponse(res);
        }
      },
      stop: () => {
        clearTimeout(timerA);
        clearTimeout(lifetime);
      },
    };
    this.live.set(key, tx);
    this.send(data, dest, (reason) => {
      // Once the far end has answered at all, it can still reach us (a new connection, §18.2.2).
      if (tx.state !== 'calling') return;
      this.end(key, tx);
      this.log.debug({ method: 'INVITE', reason }, 'transport error');
      if (events.onTransportError) events.onTransportError(reason);
      else events.onTimeout();
    });
    // Timer A: over TCP/TLS the transport is reliable, the request is sent once (§17.1.1.2).
    if (!reliable) timerA = setTimeout(retransmit, interval);
    return () => this.end(key, tx);
  }

  /** Sends a non-INVITE request; resolves with its final response, or null on timer F. */
  nonInvite(request: SipRequest, dest: HostPort): Promise<IncomingResponse | null> {
    if (this.closed) return Promise.resolve(null);
    const key = `${topBranch(request)}|${request.method}`;
    const data = serialize(request);
    const { t1, t2, t4 } = this.timers;
    const reliable = isReliable(dest);
    return new Promise((resolve) => {
      let interval = t1;
      let timerE: NodeJS.Timeout | undefined;
      const retransmit = () => {
        this.send(data, dest);
        interval = tx.state === 'proceeding' ? t2 : Math.min(interval * 2, t2);
        timerE = setTimeout(retransmit, interval);
      };
      let lifetime = setTimeout(() => {
        this.end(key, tx);
        this.log.debug({ method: request.method }, 'timer F: no final response');
        resolve(null);
      }, 64 * t1);
      const tx: ClientTx = {
        state: 'trying',
        receive: (res) => {
          if (tx.state === 'completed' || tx.state === 'terminated') return;
          if (res.status < 200) {
            tx.state = 'proceeding';
            return;
          }
          tx.state = 'completed';
          clearTimeout(timerE);
          clearTimeout(lifetime);
          lifetime = setTimeout(() => this.end(key, tx), reliable ? 0 : t4); // timer K: absorb retransmissions (none over a stream)
          resolve(res);
        },
        stop: () => {
          clearTimeout(timerE);
          clearTimeout(lifetime);
          resolve(null);
        },
      };
      this.live.set(key, tx);
      this.send(data, dest, (reason) => {
        if (tx.state !== 'trying') return;
        this.log.debug({ method: request.method, reason }, 'transport error');
        this.end(key, tx); // resolves null, as timer F would
      });
      // Timer E: no retransmissions over TCP/TLS (§17.1.2.2); timer F still bounds the transaction.
      if (!reliable) timerE = setTimeout(retransmit, interval);
    });
  }

  private end(key: string, tx: ClientTx): void {
    tx.stop();
    tx.state = 'terminated';
    if (this.live.get(key) === tx) this.live.delete(key);
  }

  /** Stops every timer; pending non-INVITE requests resolve with null. */
  close(): void {
    this.closed = true;
    for (const [key, tx] of [...this.live]) this.end(key, tx);
  }
}
