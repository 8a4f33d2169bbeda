/**
 * In-band DTMF: digits heard as tone pairs in the received audio (lines behind TDM gateways that never
 * send RFC 4733 events). Pure: fed 8 kHz linear PCM, returns digits; the media worker feeds it.
 *
 * ITU-T Q.24 (and the usual receiver specs) ask: accept each tone within ±1.5 % of nominal, reject it
 * at ±3.5 %; accept a normal twist (high tone weaker) up to 8 dB and a reverse twist up to 4 dB;
 * accept tones and pauses of 40 ms, ignore shorter ones (about 20 ms); stay quiet on speech (talk-off).
 *
 * How: every 5 ms, one Goertzel filter per DTMF frequency over the last ~18 cycles of that frequency
 * (a constant relative bandwidth, so the ±1.5 % / ±3.5 % split is the same in both groups). A tone
 * pair counts only when (1) the two strongest filters together hold most of the window's energy
 * (signal-to-noise guard, and what speech rarely does), (2) each tone is nearer its nominal frequency
 * than the filters 5 % either side (so the frequency decision is at ±2.5 %, between the Q.24 limits,
 * whatever the level), (3) the twist is within limits, (4) each tone is above a minimum level. A digit is
 * reported once the same pair holds for a tone of at least ~31 ms; another needs a ~30 ms pause first.
 */
import type { Digit } from '../engine.js';

const RATE = 8000;
const LOW = [697, 770, 852, 941] as const;
const HIGH = [1209, 1336, 1477, 1633] as const;
const KEYS = ['123A', '456B', '789C', '*0#D'] as const;

/** Cycles per analysis window: main lobe ±5.6 %, so ±1.5 % costs ~1 dB and ±3.5 % is nearer a side filter. */
const CYCLES = 18;
/** The side filters that decide frequency deviation: a tone within ±2.5 % is nearer the centre one. */
const SIDE = 0.05;
const HOP = 40; // samples: 5 ms
/** Detection needs this many consecutive hops with a full window of the same pair (window + 5 ms ≈ 31 ms). */
const HITS_TO_REPORT = 2;
/** Hops without the pair before another digit may start (30 ms): shorter breaks are one key press. */
const MISSES_TO_REARM = 6;
/** Share of the window's energy the two tones must hold (−1.9 dB). Tones at ±1.5 % in noise at 15 dB SNR keep ~0.75; the shipped speech prompts peak at ~0.57. */
const MIN_TONE_SHARE = 0.65;
const MIN_LOW_SHARE = 0.15;
/** Each end of the window holds at least this share of its mean energy (a two-tone's beats average out over 5 ms). */
const FULL = 0.4;
/** Normal twist (high tone weaker) and reverse twist (high tone stronger), as power ratios. */
const MAX_NORMAL_TWIST = 10 ** (8 / 10);
const MAX_REVERSE_TWIST = 10 ** (4 / 10);
/**
 * Minimum power (mean square) per tone: about −36 dBm0 on G.711 (0 dBm0 ≈ a sine of amplitude
 * 22 700 in 16-bit linear), below Q.24's usual −25 dBm acceptance with margin for line loss.
 */
const MIN_TONE_POWER = (22_700 * 22_700) / 2 / 10 ** 3.6;

interface Filter {
  n: number;
  coef: number;
  coefLow: number;
  coefHigh: number;
}

function filterFor(f: number): Filter {
  const n = Math.round((CYCLES * RATE) / f);
  const c = (freq: number) => 2 * Math.cos((2 * Math.PI * freq) / RATE);
  return { n, coef: c(f), coefLow: c(f * (1 - SIDE)), coefHigh: c(f * (1 + SIDE)) };
}

const LOW_FILTERS = LOW.map(filterFor);
const HIGH_FILTERS = HIGH.map(filterFor);
const WINDOW = Math.max(...LOW_FILTERS.map((f) => f.n), ...HIGH_FILTERS.map((f) => f.n));
const RING = 256; // a power of two ≥ WINDOW
if (WINDOW > RING) throw new Error('in-band DTMF window exceeds its ring buffer');

export interface InbandDtmfOptions {
  /** Tests: per-hop decisions, for diagnosing a miss. */
  trace?: (t: { digit: Digit | null; share: number }) => void;
}

export class InbandDtmfDetector {
  private readonly ring = new Float64Array(RING);
  /** Samples written so far (the ring's write position is `written & (RING - 1)`). */
  private written = 0;
  private sinceHop = 0;
  private candidate: Digit | null = null;
  private hits = 0;
  private misses = MISSES_TO_REARM;
  /** The digit of the key press in progress, reported already; null between presses. */
  private reported: Digit | null = null;
  /** Mean square of the window when the press in progress was reported. */
  private level = 0;

  constructor(private readonly opts: InbandDtmfOptions = {}) {}

  /** Feeds received audio; returns the digits whose tones completed their minimum duration in it. */
  push(samples: Int16Array): Digit[] {
    const out: Digit[] = [];
    for (let i = 0; i < samples.length; i++) {
      this.ring[this.written & (RING - 1)] = samples[i]!;
      this.written++;
      if (++this.sinceHop < HOP) continue;
      this.sinceHop = 0;
      if (this.written < WINDOW) continue;
      const d = this.step();
      if (d) out.push(d);
    }
    return out;
  }

  /** One hop: classifies the current window, then applies the duration and pause rules. */
  private step(): Digit | null {
    const seen = this.classify();
    if (seen !== null && seen === this.reported) {
      this.misses = 0; // the same press goes on (a short break inside it was not a pause)
      return null;
    }
    if (seen === null || seen === 'partial') {
      this.candidate = null;
      this.hits = 0;
      // The pause rule counts the time the tone is gone from the newest audio; a window that only
      // straddles a short break (tone again at its newest end) is no evidence of a pause.
      const gone = seen === null || this.meanSquareOver(HOP) < FULL * this.level;
      if (gone && ++this.misses >= MISSES_TO_REARM) this.reported = null;
      return null;
    }
    if (this.reported !== null && this.misses < MISSES_TO_REARM) {
      // Another pair without a long enough pause: a glitch of the same press, not a new key.
      this.misses = 0;
      return null;
    }
    this.hits = seen === this.candidate ? this.hits + 1 : 1;
    this.candidate = seen;
    if (this.hits < HITS_TO_REPORT) return null;
    this.reported = seen;
    this.level = this.meanSquareOver(WINDOW);
    this.misses = 0;
    this.hits = 0;
    this.candidate = null;
    return seen;
  }

  /** The pair heard over a full window; 'partial' when loud audio fills only part of it. */
  private classify(): Digit | null | 'partial' {
    const end = this.written;
    // Energy of the longest window; cheap, and silence (the usual case) stops here.
    let energy = 0;
    for (let k = end - WINDOW; k < end; k++) {
      const v = this.ring[k & (RING - 1)]!;
      energy += v * v;
    }
    const meanSquare = energy / WINDOW;
    if (meanSquare < 2 * MIN_TONE_POWER) {
      this.opts.trace?.({ digit: null, share: 0 });
      return null;
    }
    // A tone must fill the window: its oldest and newest 5 ms both carry their share of the energy.
    // Without this a 20 ms burst passes every other test (its tones are clean, just short).
    if (this.meanSquareOver(HOP, end - WINDOW + HOP) < FULL * meanSquare || this.meanSquareOver(HOP) < FULL * meanSquare) {
      this.opts.trace?.({ digit: null, share: 0 });
      return 'partial';
    }
    const low = this.strongest(LOW_FILTERS);
    // Early exit, the usual one on speech: even at the full reverse twist the low tone holds over a
    // quarter of a passing pair's energy (share × 1 / (1 + 10^0.4) ≈ 0.18 of the window).
    if (low.power < MIN_LOW_SHARE * meanSquare) {
      this.opts.trace?.({ digit: null, share: low.power / meanSquare });
      return null;
    }
    const high = this.strongest(HIGH_FILTERS);
    const share = (low.power + high.power) / this.meanSquareOver(Math.max(LOW_FILTERS[low.index]!.n, HIGH_FILTERS[high.index]!.n));
    const ok =
      share >= MIN_TONE_SHARE &&
      low.power >= MIN_TONE_POWER &&
      high.power >= MIN_TONE_POWER &&
      low.power <= high.power * MAX_NORMAL_TWIST &&
      high.power <= low.power * MAX_REVERSE_TWIST &&
      this.centred(LOW_FILTERS[low.index]!, low.power) &&
      this.centred(HIGH_FILTERS[high.index]!, high.power);
    const digit = ok ? (KEYS[low.index]![high.index] as Digit) : null;
    this.opts.trace?.({ digit, share });
    return digit;
  }

  private strongest(filters: Filter[]): { index: number; power: number } {
    let index = 0;
    let power = -1;
    for (let i = 0; i < filters.length; i++) {
      const p = this.goertzel(filters[i]!.n, filters[i]!.coef);
      if (p > power) {
        power = p;
        index = i;
      }
    }
    return { index, power };
  }

  /** True when the tone is nearer the nominal frequency than the side filters: within ±2.5 %. */
  private centred(f: Filter, power: number): boolean {
    return power >= this.goertzel(f.n, f.coefLow) && power >= this.goertzel(f.n, f.coefHigh);
  }

  /** Mean square of the n samples ending at `end` (by default the newest). */
  private meanSquareOver(n: number, end = this.written): number {
    let e = 0;
    for (let k = end - n; k < end; k++) {
      const v = this.ring[k & (RING - 1)]!;
      e += v * v;
    }
    return e / n || 1;
  }

  /** The mean-square power of the component at `coef`'s frequency over the last n samples. */
  private goertzel(n: number, coef: number): number {
    let s1 = 0;
    let s2 = 0;
    for (let k = this.written - n; k < this.written; k++) {
      const s0 = this.ring[k & (RING - 1)]! + coef * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    const mag2 = s1 * s1 + s2 * s2 - coef * s1 * s2;
    return (2 * mag2) / (n * n);
  }
}

export type InbandDtmfMode = 'auto' | 'always' | 'never';

/** `auto`: listen for tones only when the peer did not negotiate telephone-event. */
export function inbandDtmfEnabled(mode: InbandDtmfMode, telephoneEventPt: number | null): boolean {
  return mode === 'always' || (mode === 'auto' && telephoneEventPt === null);
}

export type DigitSource = 'rfc4733' | 'inband';

/** How long after a digit from one source the same digit from the other is taken as the same key press. */
const SAME_PRESS_MS = 600;

/**
 * One key press may arrive twice when a gateway both sends RFC 4733 events and leaves the tones in the
 * audio: the second report of the same digit from the other source within 600 ms is dropped. Each
 * report pairs with at most one from the other source, so "11" keyed fast still makes two digits.
 */
export class DigitMerger {
  private last: { digit: Digit; source: DigitSource; at: number; paired: boolean } | null = null;

  /** True when the digit is new and should be delivered. */
  accept(digit: Digit, source: DigitSource, now: number): boolean {
    const l = this.last;
    if (l && !l.paired && l.source !== source && l.digit === digit && now - l.at <= SAME_PRESS_MS) {
      l.paired = true;
      return false;
    }
    this.last = { digit, source, at: now, paired: false };
    return true;
  }
}
