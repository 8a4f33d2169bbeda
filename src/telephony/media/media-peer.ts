import type { Socket } from 'node:dgram';
import type { Endpoint, MediaLog } from './dtmf.js';
import { InactivityWatch } from './inactivity.js';
import { RtpLatch } from './latch.js';
import { looksLikeRtcp } from './rtcp.js';
import { RtcpSession, type RtcpSenderState } from './rtcp-session.js';
import { parseRtp } from './rtp.js';

/** What the SIP side negotiated, as the worker's `start` message carries it. */
export interface PeerMedia {
  /** The phone's SDP address and port. */
  remote: Endpoint;
  /** Both sides said a=rtcp-mux (RFC 5761): RTCP shares the RTP port. */
  rtcpMux: boolean;
  /** The phone's a=rtcp (RFC 3605), if any; else its RTP port + 1. */
  rtcp: Endpoint | null;
  payloadType: number;
  telephoneEventPt: number | null;
  /** We send RTP (false while the phone holds the call). */
  send: boolean;
  /** The phone is supposed to send RTP (false when it answered recvonly or inactive). */
  receive: boolean;
}

export interface MediaPeerOptions {
  rtpSocket: Socket;
  rtcpSocket: Socket;
  /** Config `telephony.rtp.symmetric`. */
  symmetric: boolean;
  /** Config `telephony.rtp.inactivityTimeoutSeconds` in ms; 0 = off. */
  inactivityMs: number;
  rtcpIntervalMs: number;
  log: MediaLog & { info(obj: object, msg: string): void };
  sender(): RtcpSenderState | null;
  onTimeout(silentMs: number): void;
}

/** A BYE that the socket never confirms still lets the session close after this long. */
const BYE_WAIT_MS = 200;

/**
 * The phone's side of one call's media, seen from the worker: which RTP to take and where ours goes
 * (latching, latch.ts), RTCP to and from the phone on RTP port + 1 or muxed on the RTP port
 * (rtcp-session.ts), and whether the phone has gone silent (inactivity.ts). None of it is on the
 * 20 ms send path: the pacing loop only asks `rtpTarget`.
 */
export class MediaPeer {
  private media: PeerMedia | null = null;
  private latch: RtpLatch | null = null;
  readonly rtcp: RtcpSession;
  private readonly watch: InactivityWatch;
  private warnedSource = false;
  rtcpDropped = 0;

  constructor(private readonly o: MediaPeerOptions) {
    this.rtcp = new RtcpSession({ intervalMs: o.rtcpIntervalMs, sender: o.sender, send: (p, done) => this.sendRtcp(p, done), log: o.log });
    this.watch = new InactivityWatch(o.inactivityMs, o.onTimeout);
    o.rtcpSocket.on('message', (msg, rinfo) => this.onRtcp(msg, rinfo));
    let errors = 0;
    o.rtcpSocket.on('error', (e) => {
      if (errors++ < 3) o.log.warn({ err: e.message }, 'RTCP socket error');
    });
  }

  /** New media from the SIP side (the answer, then each re-INVITE). A new SDP address drops the latch. */
  start(m: PeerMedia): void {
    const payloadTypes = m.telephoneEventPt === null ? [m.payloadType] : [m.payloadType, m.telephoneEventPt];
    this.latch = RtpLatch.carry(this.latch, { sdp: m.remote, symmetric: this.o.symmetric, payloadTypes });
    this.media = m;
    this.watch.expect(m.send && m.receive);
    this.rtcp.start();
  }

  /** Where our RTP goes. */
  get rtpTarget(): Endpoint | null {
    return this.latch?.target ?? null;
  }

  /** Packets from elsewhere than the phone, dropped (RTP and RTCP). */
  get dropped(): number {
    return (this.latch?.dropped ?? 0) + this.rtcpDropped;
  }

  /**
   * A datagram on the RTP port: true = RTP from the phone, for the DTMF receiver. RTCP (when muxed)
   * and packets from other sources are dealt with here.
   */
  admit(msg: Buffer, from: Endpoint): boolean {
    const { media, latch } = this;
    if (!media || !latch) return false;
    if (media.rtcpMux && looksLikeRtcp(msg)) {
      this.onRtcp(msg, from);
      return false;
    }
    const parsed = parseRtp(msg);
    const header = parsed.ok ? parsed.packet.header : null;
    const verdict = latch.check(from, header, parsed.ok ? parsed.packet.payload.length : 0);
    if (!verdict.accept) {
      if (!this.warnedSource) {
        this.warnedSource = true;
        this.o.log.warn({ from: `${from.address}:${from.port}`, reason: 'source' }, 'RTP from an unexpected source ignored (logged once per call)');
      }
      return false;
    }
    if (verdict.latchedNow && latch.moved) {
      this.o.log.info({ sdp: `${latch.sdp.address}:${latch.sdp.port}`, from: `${from.address}:${from.port}` }, 'symmetric RTP: media latched to where the phone sends from');
    }
    this.watch.heard();
    if (header) this.rtcp.onRtp(header, header.payloadType === media.payloadType);
    return true;
  }

  /** Sends the RTCP BYE, stops the timers, then `done` (bounded: a lost callback does not hold the close). */
  close(done: () => void): void {
    this.watch.stop();
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      done();
    };
    const timer = setTimeout(finish, BYE_WAIT_MS);
    this.rtcp.bye(finish);
  }

  private onRtcp(msg: Buffer, from: Endpoint): void {
    if (!this.latch?.acceptsRtcpFrom(from)) {
      this.rtcpDropped++;
      return;
    }
    if (this.rtcp.receive(msg)) this.watch.heard();
  }

  /** Where RTCP goes: the RTP destination when muxed; else its port + 1 when latched, a=rtcp, or the SDP port + 1. */
  private rtcpTarget(): Endpoint | null {
    const { media, latch } = this;
    if (!media || !latch) return null;
    const rtp = latch.target;
    if (media.rtcpMux) return rtp;
    if (latch.moved) return rtp.port < 65535 ? { address: rtp.address, port: rtp.port + 1 } : null;
    if (media.rtcp) return media.rtcp;
    return media.remote.port < 65535 ? { address: media.remote.address, port: media.remote.port + 1 } : null;
  }

  private sendRtcp(packet: Buffer, done?: () => void): void {
    const to = this.rtcpTarget();
    if (!to) return done?.();
    const socket = this.media?.rtcpMux ? this.o.rtpSocket : this.o.rtcpSocket;
    try {
      socket.send(packet, to.port, to.address, () => done?.());
    } catch {
      done?.(); // the socket is already closed
    }
  }
}
