/**
 * Loudness of a prompt clip, so that a pack mixing a studio voice, espeak-ng and an operator's
 * recording does not jump in volume between clips, and so that a silent or clipped clip is caught
 * before a consumer hears it. Pure: samples in, numbers out.
 *
 * "Active level" is a simplified ITU-T P.56 active speech level: the mean power of the 20 ms frames
 * whose RMS is above ACTIVE_FRAME_DBFS, in dBFS (a full-scale square wave is 0 dBFS). Plain RMS would
 * rank a clip with long leading silence (Asterisk's recordings have some) as quieter than it sounds.
 */

const RATE = 8000;
const FRAME = RATE / 50; // 20 ms
const FULL_SCALE = 32768;

/** A 20 ms frame quieter than this is a pause, not speech (−45 dBFS ≈ line noise on a quiet line). */
export const ACTIVE_FRAME_DBFS = -45;
/** Samples this close to full scale count as clipped (sox writes 32767 when it clips). */
const CLIP_SAMPLE = 32_700;

export interface ClipLevel {
  /** Active level in dBFS; -Infinity when no frame is active. */
  activeDb: number;
  /** Peak sample level in dBFS. */
  peakDb: number;
  /** Milliseconds of active (speech) frames. */
  activeMs: number;
  /** Runs of 3 or more consecutive samples at full scale: each is a flattened wave top. */
  clippedRuns: number;
  durationMs: number;
}

export function measureClip(samples: Int16Array): ClipLevel {
  let peak = 0;
  let clippedRuns = 0;
  let run = 0;
  for (const s of samples) {
    const a = Math.abs(s);
    if (a > peak) peak = a;
    if (a >= CLIP_SAMPLE) {
      run += 1;
      if (run === 3) clippedRuns += 1;
    } else run = 0;
  }
  let activePower = 0;
  let activeFrames = 0;
  const threshold = FULL_SCALE ** 2 * 10 ** (ACTIVE_FRAME_DBFS / 10);
  for (let at = 0; at + FRAME <= samples.length; at += FRAME) {
    let sum = 0;
    for (let i = at; i < at + FRAME; i++) sum += samples[i]! * samples[i]!;
    const power = sum / FRAME;
    if (power >= threshold) {
      activePower += power;
      activeFrames += 1;
    }
  }
  return {
    activeDb: activeFrames === 0 ? -Infinity : 10 * Math.log10(activePower / activeFrames / FULL_SCALE ** 2),
    peakDb: peak === 0 ? -Infinity : 20 * Math.log10(peak / FULL_SCALE),
    activeMs: activeFrames * 20,
    clippedRuns,
    durationMs: (samples.length / RATE) * 1000,
  };
}

/** The thresholds of `callpay prompts check` (README "Prompt packs"). */
export const LEVEL_RULES = {
  /** Less speech than this is a silent clip (the shortest word, "six", is ≈ 250 ms). */
  minActiveMs: 60,
  /** More clipped runs than this is a distorted recording; a few isolated ones are inaudible. */
  maxClippedRuns: 10,
  /** Each clip's active level must be within this many dB of the pack's median. */
  maxDeviationDb: 6,
} as const;

export type LevelFault = { kind: 'silent' | 'clipped' | 'loudness'; detail: string };

/** The median of the finite levels, or null for none. */
export function medianLevel(levels: readonly number[]): number | null {
  const xs = levels.filter(Number.isFinite).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

/** What is wrong with one clip's level, against the pack's median (null median: no comparison). */
export function levelFault(level: ClipLevel, median: number | null): LevelFault | null {
  if (level.activeMs < LEVEL_RULES.minActiveMs) {
    return { kind: 'silent', detail: `silent: ${level.activeMs} ms above ${ACTIVE_FRAME_DBFS} dBFS (peak ${fmt(level.peakDb)} dBFS)` };
  }
  if (level.clippedRuns > LEVEL_RULES.maxClippedRuns) {
    return { kind: 'clipped', detail: `clipped: ${level.clippedRuns} runs of samples at full scale` };
  }
  if (median !== null && Math.abs(level.activeDb - median) > LEVEL_RULES.maxDeviationDb) {
    const diff = level.activeDb - median;
    return {
      kind: 'loudness',
      detail: `${Math.abs(diff).toFixed(1)} dB ${diff > 0 ? 'louder' : 'quieter'} than the pack's median (${fmt(level.activeDb)} vs ${fmt(median)} dBFS active level; at most ±${LEVEL_RULES.maxDeviationDb} dB)`,
    };
  }
  return null;
}

function fmt(db: number): string {
  return Number.isFinite(db) ? db.toFixed(1) : '-inf';
}
