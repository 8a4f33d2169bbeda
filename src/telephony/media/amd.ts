/**
 * Answering-machine detection on the received audio: pure, fed 8 kHz linear PCM in any chunk sizes,
 * judged in 20 ms frames. The rules are Asterisk app_amd's (a frame is voice when its mean absolute
 * level reaches 256 of 32 767): a person says a short "hello" and waits; a recorded greeting goes on
 * (too much voice before a pause, or too many words); a silent line is a person waiting (app_amd calls
 * it a machine: here it proceeds, because a silent person must still be able to pay).
 *
 * Beeps: one steady tone. Each frame goes through Goertzel filters 50 Hz apart over 300–2000 Hz; a
 * frame is tonal when two neighbouring filters hold most of its energy (a pure tone does, whatever its
 * offset from the filters; band-limited noise and speech spread over dozens), and a beep is tonal
 * frames at one frequency (± one filter) and a steady level for BEEP_MS. A DTMF key is two tones
 * (≈ half the energy each): not a beep.
 */
import type { ScreenOptions, ScreenResult } from '../engine.js';

const FRAME = 160;
const FRAME_MS = 20;
/** app_amd's silence_threshold: mean |sample| below this is silence. */
const SILENCE_THRESHOLD = 256;
/** app_amd's between_words_silence: a pause this long ends a word. */
const BETWEEN_WORDS_MS = 50;
const BEEP_MS = 160;
/** Share of a frame's energy two neighbouring filters must hold for a tone (a pure tone: ≥ 0.81). */
const MIN_TONE_SHARE = 0.7;
/** A beep's level may drift this much from frame to frame (as a ratio of mean |sample|). */
const BEEP_LEVEL_DRIFT = 1.5;
const FIRST_BIN = 6; // 300 Hz
const LAST_BIN = 40; // 2000 Hz
const COEF = Array.from({ length: LAST_BIN + 2 }, (_, k) => 2 * Math.cos((2 * Math.PI * k) / FRAME));

/** The verdict, or null while undecided. */
export type Decision = ScreenResult | null;

export class MachineDetector {
  private readonly buf = new Int16Array(FRAME);
  private fill = 0;
  private elapsed = 0;
  private silence = 0;
  /** Voice since the current word (or blip) began; reset by a pause of BETWEEN_WORDS_MS. */
  private voiceRun = 0;
  private inWord = false;
  private words = 0;
  /** Voiced ms since the greeting's first word. */
  private greeting = 0;
  private toneBin = -1;
  private toneLevel = 0;
  private toneMs = 0;
  private decided: Decision = null;

  constructor(private readonly o: ScreenOptions) {}

  get elapsedMs(): number {
    return this.elapsed;
  }

  get result(): Decision {
    return this.decided;
  }

  /** Audio as received; returns the verdict once there is one (and the same one after). */
  push(pcm: Int16Array): Decision {
    for (let i = 0; i < pcm.length && !this.decided; ) {
      const n = Math.min(FRAME - this.fill, pcm.length - i);
      this.buf.set(pcm.subarray(i, i + n), this.fill);
      this.fill += n;
      i += n;
      if (this.fill === FRAME) {
        this.fill = 0;
        this.frame(this.buf);
      }
    }
    return this.decided;
  }

  /** Time that passed with no audio at all (a phone that stopped sending): silence. */
  pushSilence(frames: number): Decision {
    for (let i = 0; i < frames && !this.decided; i++) this.step(0, -1);
    return this.decided;
  }

  /** Ends the analysis with a verdict from outside (a key pressed, the call ended, time ran out). */
  finish(verdict: ScreenResult['verdict'], reason: ScreenResult['reason']): ScreenResult {
    this.decided ??= { verdict, reason, elapsedMs: this.elapsed, words: this.words };
    return this.decided;
  }

  private frame(x: Int16Array): void {
    let abs = 0;
    for (let i = 0; i < FRAME; i++) abs += Math.abs(x[i]!);
    const level = abs / FRAME;
    this.step(level, level >= SILENCE_THRESHOLD ? toneBin(x) : -1);
  }

  private step(level: number, tone: number): void {
    const o = this.o;
    this.elapsed += FRAME_MS;
    if (this.beep(level, tone)) return void this.finish('machine', 'beep');
    if (level < SILENCE_THRESHOLD) {
      this.silence += FRAME_MS;
      if (this.silence >= BETWEEN_WORDS_MS) {
        this.inWord = false;
        this.voiceRun = 0;
      }
      if (this.words === 0 && this.silence >= o.initialSilenceMs) return void this.finish('unknown', 'initial_silence');
      if (this.words > 0 && this.silence >= o.afterGreetingSilenceMs) return void this.finish('human', 'after_greeting_silence');
    } else {
      this.silence = 0;
      this.voiceRun += FRAME_MS;
      if (!this.inWord && this.voiceRun >= o.minWordMs) {
        this.inWord = true;
        this.words += 1;
        if (this.words === 1) this.greeting = this.voiceRun - FRAME_MS;
        if (this.words > o.maxWords) return void this.finish('machine', 'max_words');
      }
      if (this.words > 0) this.greeting += FRAME_MS;
      if (this.greeting > o.maxGreetingMs) return void this.finish('machine', 'long_greeting');
    }
    if (this.elapsed >= o.totalAnalysisMs) this.finish('unknown', 'total_time');
  }

  /** True once a steady tone has lasted BEEP_MS. */
  private beep(level: number, bin: number): boolean {
    const steady = bin >= 0 && this.toneBin >= 0 && Math.abs(bin - this.toneBin) <= 1
      && level <= this.toneLevel * BEEP_LEVEL_DRIFT && level * BEEP_LEVEL_DRIFT >= this.toneLevel;
    if (!steady) this.toneMs = 0;
    this.toneBin = bin;
    this.toneLevel = level;
    if (bin < 0) return false;
    this.toneMs += FRAME_MS;
    return this.toneMs >= BEEP_MS;
  }
}

/** The filter (50 Hz apart) nearest the frame's one tone, or -1 when the frame is not one tone. */
export function toneBin(x: Int16Array): number {
  let energy = 0;
  for (let i = 0; i < FRAME; i++) energy += x[i]! * x[i]!;
  if (energy === 0) return -1;
  const share = new Float64Array(LAST_BIN + 2);
  for (let k = FIRST_BIN - 1; k <= LAST_BIN + 1; k++) {
    const c = COEF[k]!;
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < FRAME; i++) {
      const s0 = x[i]! + c * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    // |X_k|² scaled so that a tone centred on filter k has share 1.
    share[k] = ((s1 * s1 + s2 * s2 - c * s1 * s2) * 2) / (FRAME * energy);
  }
  let best = -1;
  let bestShare = MIN_TONE_SHARE;
  for (let k = FIRST_BIN; k <= LAST_BIN; k++) {
    const pair = share[k]! + Math.max(share[k - 1]!, share[k + 1]!);
    if (pair >= bestShare && share[k]! >= Math.max(share[k - 1]!, share[k + 1]!)) {
      best = k;
      bestShare = pair;
    }
  }
  return best;
}
