import type { ReportBlock } from './rtcp.js';

/** RFC 3550 A.1: a jump of more than this is a restart or a misorder, not loss. */
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const SEQ_MOD = 0x10000;
/** G.711 and telephone-event both run on an 8 kHz clock. */
const CLOCK_PER_MS = 8;

/**
 * What we heard of the phone's RTP stream, for the reception report block of our SR/RR: sequence
 * tracking with cycles (RFC 3550 A.1, without the probation there: the source is vetted before its
 * packets get here), loss (A.3) and interarrival jitter (A.8). A new SSRC starts the counts afresh.
 */
export class ReceptionStats {
  ssrc: number | null = null;
  private baseSeq = 0;
  private maxSeq = 0;
  private cycles = 0;
  private badSeq = SEQ_MOD + 1;
  private received = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  private jitter = 0;
  private last: { arrivalMs: number; timestamp: number } | null = null;
  /** The phone's last SR: the middle of its NTP timestamp, and when it arrived (ms, our clock). */
  private lastSr: { ssrc: number; middle: number; arrivalMs: number } | null = null;

  /**
   * One RTP packet from the phone. `audio`: a voice packet; telephone-event packets repeat their
   * event's timestamp, so only voice packets count for jitter.
   */
  onRtp(h: { ssrc: number; sequence: number; timestamp: number }, arrivalMs: number, audio: boolean): void {
    if (h.ssrc !== this.ssrc) this.reset(h.ssrc, h.sequence);
    else if (!this.updateSeq(h.sequence)) return;
    this.received++;
    if (!audio) return;
    if (this.last) {
      // Transit-time difference D(i-1, i), in timestamp units; the signed 32-bit step survives wrap-around.
      const d = (arrivalMs - this.last.arrivalMs) * CLOCK_PER_MS - ((h.timestamp - this.last.timestamp) | 0);
      this.jitter += (Math.abs(d) - this.jitter) / 16;
    }
    this.last = { arrivalMs, timestamp: h.timestamp };
  }

  /** An SR from the phone: its timestamp goes back in our next report as LSR, with DLSR the time since. */
  onSenderReport(ssrc: number, ntpMiddle: number, arrivalMs: number): void {
    this.lastSr = { ssrc, middle: ntpMiddle, arrivalMs };
  }

  /** The report block about the phone's stream now, or null before its first packet. Moves the interval on. */
  report(nowMs: number): ReportBlock | null {
    if (this.ssrc === null) return null;
    const extendedMax = this.cycles + this.maxSeq;
    const expected = extendedMax - this.baseSeq + 1;
    const expectedInterval = expected - this.expectedPrior;
    const receivedInterval = this.received - this.receivedPrior;
    this.expectedPrior = expected;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost = expectedInterval <= 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    const sr = this.lastSr && this.lastSr.ssrc === this.ssrc ? this.lastSr : null;
    return {
      ssrc: this.ssrc,
      fractionLost,
      cumulativeLost: Math.max(-0x800000, Math.min(0x7fffff, expected - this.received)),
      highestSeq: extendedMax >>> 0,
      jitter: Math.floor(this.jitter),
      lsr: sr ? sr.middle : 0,
      dlsr: sr ? Math.floor(((nowMs - sr.arrivalMs) / 1000) * 65536) : 0,
    };
  }

  private reset(ssrc: number, seq: number): void {
    this.ssrc = ssrc;
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.cycles = 0;
    this.badSeq = SEQ_MOD + 1;
    this.received = 0;
    this.expectedPrior = 0;
    this.receivedPrior = 0;
    this.jitter = 0;
    this.last = null;
  }

  /** RFC 3550 A.1 update_seq: false = the packet is not counted (a jump not yet confirmed). */
  private updateSeq(seq: number): boolean {
    const delta = (seq - this.maxSeq + SEQ_MOD) % SEQ_MOD;
    if (delta < MAX_DROPOUT) {
      if (seq < this.maxSeq) this.cycles += SEQ_MOD; // wrapped
      this.maxSeq = seq;
    } else if (delta <= SEQ_MOD - MAX_MISORDER) {
      // A very large jump: believe it when the next packet follows it (the sender restarted).
      if (seq === this.badSeq) {
        this.reset(this.ssrc!, seq);
      } else {
        this.badSeq = (seq + 1) % SEQ_MOD;
        return false;
      }
    }
    // else a duplicate or a packet out of order: counted, the maximum unchanged
    return true;
  }
}
