import { randomBytes } from 'node:crypto';
import type { MediaLog } from './dtmf.js';
import { encodeBye, encodeRr, encodeSdesCname, encodeSr, ntpFromUnixMs, ntpMiddle, parseRtcp } from './rtcp.js';
import { ReceptionStats } from './rtcp-stats.js';

/** RFC 3550 §6.2: the minimum report interval, 5 s; the first report may go after half of it. */
export const RTCP_INTERVAL_MS = 5000;
const DEBUG_LOGS = 5;

/** Our RTP stream as the SR describes it. */
export interface RtcpSenderState {
  ssrc: number;
  /** RTP packets and payload octets sent since the start. */
  packets: number;
  octets: number;
  /** The RTP timestamp that corresponds to `nowMs` (performance.now()). */
  rtpTimestampAt(nowMs: number): number;
}

export interface RtcpSessionOptions {
  /** Tmin of RFC 3550 §6.2 (5 s); tests use a short one. */
  intervalMs: number;
  /** Our stream, or null before it starts. */
  sender(): RtcpSenderState | null;
  /** Sends one compound packet to where RTCP goes now; `done` runs once it has left (or failed). */
  send(packet: Buffer, done?: () => void): void;
  log: MediaLog;
}

/**
 * RTCP of one call (RFC 3550 §6): a compound packet (SR while we send, else RR; one reception report
 * about the phone's stream; SDES CNAME) at a randomized interval around Tmin, a BYE at the end, and
 * the phone's own reports read for LSR/DLSR. With two participants and G.711 the bandwidth rule of
 * §6.2 always gives less than Tmin, so the interval is Tmin × U(0.5, 1.5) (the first: half that, as
 * §6.2 allows). No timer reconsideration: there is no group whose size could change.
 */
export class RtcpSession {
  readonly stats = new ReceptionStats();
  sent = 0;
  received = 0;
  ignored = 0;
  /** RFC 7022: a random CNAME per session; it links our streams and reveals nothing about the host. */
  private readonly cname = randomBytes(12).toString('base64url');
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Our packet count at the last two reports: SR only if we sent since the last-but-one (§6.4). */
  private packetsAt: [number, number] = [-1, -1];
  private debugLogs = 0;
  private stopped = false;

  constructor(private readonly opts: RtcpSessionOptions) {}

  /** Starts the report timer (again after a re-INVITE it keeps running). */
  start(): void {
    if (this.timer === undefined && !this.stopped) this.schedule(this.opts.intervalMs / 2);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The phone's RTP, after the source check; `audio` = a voice packet (not telephone-event). */
  onRtp(h: { ssrc: number; sequence: number; timestamp: number }, audio: boolean): void {
    this.stats.onRtp(h, performance.now(), audio);
  }

  /** RTCP from the phone's host. False when malformed (dropped): it is then no sign of life either. */
  receive(buf: Uint8Array): boolean {
    const parsed = parseRtcp(buf);
    if (!parsed.ok) {
      this.ignored++;
      if (this.debugLogs++ < DEBUG_LOGS) this.opts.log.debug({ why: parsed.reason, bytes: buf.length }, 'malformed RTCP ignored');
      return false;
    }
    this.received++;
    const now = performance.now();
    for (const p of parsed.packets) {
      if (p.type === 'sr') this.stats.onSenderReport(p.ssrc, ntpMiddle(p.sender.ntpSeconds, p.sender.ntpFraction), now);
      else if (p.type === 'bye' && this.debugLogs++ < DEBUG_LOGS) this.opts.log.debug({}, 'RTCP BYE from the phone');
    }
    return true;
  }

  /** Our compound report now: SR or RR, then SDES CNAME. Null before our stream exists. */
  compound(): Buffer | null {
    const s = this.opts.sender();
    if (!s) return null;
    const now = performance.now();
    const block = this.stats.report(now);
    const reports = block ? [block] : [];
    const weSent = s.packets > 0 && s.packets !== this.packetsAt[0];
    this.packetsAt = [this.packetsAt[1], s.packets];
    const ntp = ntpFromUnixMs(performance.timeOrigin + now);
    const first = weSent
      ? encodeSr(s.ssrc, { ntpSeconds: ntp.seconds, ntpFraction: ntp.fraction, rtpTimestamp: s.rtpTimestampAt(now), packetCount: s.packets, octetCount: s.octets }, reports)
      : encodeRr(s.ssrc, reports);
    return Buffer.concat([first, encodeSdesCname(s.ssrc, this.cname)]);
  }

  /** The last report with a BYE (§6.6); `done` runs when it has been sent, or at once if there is nothing to say. */
  bye(done: () => void): void {
    this.stop();
    const s = this.opts.sender();
    const report = this.compound();
    if (!s || !report) return done();
    this.opts.send(Buffer.concat([report, encodeBye([s.ssrc])]), done);
    this.sent++;
  }

  private schedule(baseMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const packet = this.compound();
      if (packet) {
        this.opts.send(packet);
        this.sent++;
      }
      this.schedule(this.opts.intervalMs);
    }, baseMs * (0.5 + Math.random()));
  }
}
