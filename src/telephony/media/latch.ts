import type { Endpoint } from './dtmf.js';
import type { RtpHeader } from './rtp.js';

/**
 * Consecutive valid packets (one SSRC, sequence numbers +1 each) a source other than the SDP's address
 * must send before media latches to it, as Asterisk's strictrtp probation (4 by default). A forger
 * spraying packets does not get in by luck (random sequence numbers never make a run), and a phone
 * behind NAT, sending 50 packets a second, is latched within 80 ms.
 */
export const LATCH_PROBATION = 4;
/** Sources on probation at once; beyond that the table starts over (bounded memory under a flood). */
const MAX_CANDIDATES = 16;

export interface LatchOptions {
  /** The address and port of the phone's SDP. */
  sdp: Endpoint;
  /** Config `telephony.rtp.symmetric`: false = RTP is taken from, and sent to, the SDP address only. */
  symmetric: boolean;
  /** Payload types a packet must carry to count as valid: the negotiated audio and telephone-event. */
  payloadTypes: readonly number[];
}

export type LatchVerdict =
  | { accept: true; latchedNow: boolean }
  | { accept: false };

/**
 * Symmetric RTP (RFC 4961 in spirit; "comedia" latching): where the phone's RTP really comes from.
 * Behind NAT a phone's SDP names its private address; its packets arrive from the NAT's. Media then
 * goes back where the phone's packets come from, and only there; packets from anywhere else are
 * dropped, as before latching existed (the forged-media protection of issue 10):
 *
 * - before latching, packets from the SDP address are accepted (as without latching), and the first
 *   valid one latches there at once;
 * - a packet from another source is dropped; once one source has sent LATCH_PROBATION valid packets of
 *   one SSRC in sequence, media latches to it; that packet and the following ones are accepted;
 * - after latching, only the latched source is accepted, with one exception: valid RTP from the SDP
 *   address itself takes the latch back (the address the signalling gave is trusted as without
 *   latching; this also lets a re-INVITE's new address win over packets of the old source still on
 *   their way, which may have latched again after the reset).
 * - a new SDP address (a re-INVITE) starts over: see `carry`.
 */
export class RtpLatch {
  private latched: Endpoint | null = null;
  private readonly candidates = new Map<string, { ssrc: number; next: number; count: number }>();
  dropped = 0;

  constructor(private readonly opts: LatchOptions) {}

  /** A latch for a re-INVITE's media: the previous latch holds when the SDP address did not change. */
  static carry(previous: RtpLatch | null, opts: LatchOptions): RtpLatch {
    const next = new RtpLatch(opts);
    if (previous && sameEndpoint(previous.opts.sdp, opts.sdp) && previous.opts.symmetric === opts.symmetric) {
      next.latched = previous.latched;
      next.dropped = previous.dropped;
    } else if (previous) {
      next.dropped = previous.dropped;
    }
    return next;
  }

  /** Where our RTP goes: the latched source, else the SDP address. */
  get target(): Endpoint {
    return this.latched ?? this.opts.sdp;
  }

  /** True when media goes somewhere other than the SDP says. */
  get moved(): boolean {
    return this.latched !== null && !sameEndpoint(this.latched, this.opts.sdp);
  }

  get sdp(): Endpoint {
    return this.opts.sdp;
  }

  /** Whether to take an RTP packet; `header` is null when it does not parse. */
  check(from: Endpoint, header: RtpHeader | null, payloadBytes: number): LatchVerdict {
    if (!this.opts.symmetric) return this.verdict(sameEndpoint(from, this.opts.sdp));
    const valid = header !== null && this.valid(header, payloadBytes);
    if (this.latched) {
      if (sameEndpoint(from, this.latched)) return { accept: true, latchedNow: false };
      return valid && sameEndpoint(from, this.opts.sdp) ? this.latch(this.opts.sdp) : this.verdict(false);
    }
    if (sameEndpoint(from, this.opts.sdp)) {
      if (!valid) return { accept: true, latchedNow: false }; // the receiver counts why it is ignored
      return this.latch(this.opts.sdp);
    }
    if (!valid) return this.verdict(false);
    const key = `${normalize(from.address)}|${from.port}`;
    const c = this.candidates.get(key);
    if (c && c.ssrc === header.ssrc && c.next === header.sequence) {
      c.count++;
      c.next = (header.sequence + 1) & 0xffff;
      if (c.count >= LATCH_PROBATION) return this.latch({ address: from.address, port: from.port });
    } else {
      if (!c && this.candidates.size >= MAX_CANDIDATES) this.candidates.clear();
      this.candidates.set(key, { ssrc: header.ssrc, next: (header.sequence + 1) & 0xffff, count: 1 });
    }
    return this.verdict(false);
  }

  /** RTCP is taken from the host media is taken from, any port (a NAT maps the RTCP port its own way). */
  acceptsRtcpFrom(from: Endpoint): boolean {
    return normalize(from.address) === normalize(this.target.address);
  }

  private valid(h: RtpHeader, payloadBytes: number): boolean {
    // Version 2 and sane lengths are checked by parseRtp; CSRCs are for mixers, never a phone.
    return h.csrcs.length === 0 && payloadBytes > 0 && this.opts.payloadTypes.includes(h.payloadType);
  }

  private latch(to: Endpoint): LatchVerdict {
    this.latched = to;
    this.candidates.clear();
    return { accept: true, latchedNow: true };
  }

  private verdict(accept: boolean): LatchVerdict {
    if (accept) return { accept: true, latchedNow: false };
    this.dropped++;
    return { accept: false };
  }
}

export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && normalize(a.address) === normalize(b.address);
}

/** `::ffff:192.0.2.1` (an IPv4 peer seen on a dual-stack socket) is `192.0.2.1`. */
export function normalize(address: string): string {
  const a = address.toLowerCase();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
