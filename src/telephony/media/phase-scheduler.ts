import { FRAME_MS } from './playout.js';

/** What the scheduler paces: a stream in one phase that sends the frames due at `now`. */
export interface Paced {
  /** Its phase, 0 ≤ phase < the scheduler's phase count; fixed while it is scheduled. */
  readonly phase: number;
  /** Sends every frame due at `now`; returns when its next frame is due (Infinity: none). */
  service(now: number): number;
}

/**
 * One timer for many 20 ms streams spread over `phaseCount` phases of the frame (phase i's frames are
 * due at i × 20/phaseCount ms past each 20 ms mark). A wake-up serves only the phases now due, so the
 * streams leave in small bursts spread over the frame instead of one burst per frame, and each
 * stream's frames stay on its own 20 ms grid. A phase's due time is the earliest of its streams' next
 * frames: they share its grid.
 */
export class PhaseScheduler<T extends Paced> {
  private readonly phases: { members: Set<T>; due: number }[];
  private readonly phaseMs: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private armedFor = Infinity;

  constructor(
    phaseCount: number,
    /** Frames due within this many ms are sent now: timers fire on whole milliseconds, usually late. */
    private readonly earlyMs: number,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.phases = Array.from({ length: phaseCount }, () => ({ members: new Set<T>(), due: Infinity }));
    this.phaseMs = FRAME_MS / phaseCount;
  }

  /** The phase with the fewest streams: new streams fill the frame evenly. */
  leastUsedPhase(): number {
    let best = 0;
    for (let i = 1; i < this.phases.length; i++) if (this.phases[i]!.members.size < this.phases[best]!.members.size) best = i;
    return best;
  }

  /** The first frame time ≥ now on the grid of `phase`. */
  phaseStart(phase: number, now: number): number {
    const offset = phase * this.phaseMs;
    return Math.ceil((now - offset) / FRAME_MS) * FRAME_MS + offset;
  }

  /** Starts pacing s (again: a no-op but for a frame now due); a frame already due goes out at once. */
  add(s: T): void {
    const p = this.phases[s.phase]!;
    p.members.add(s);
    const due = s.service(this.clock());
    p.due = Math.min(p.due, due);
    this.arm(due);
  }

  remove(s: T): void {
    const p = this.phases[s.phase]!;
    p.members.delete(s);
    if (p.members.size === 0) p.due = Infinity;
    if (this.timer !== undefined && this.phases.every((x) => x.members.size === 0)) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.armedFor = Infinity;
    }
  }

  /** Streams per phase (for tests and stats). */
  load(): number[] {
    return this.phases.map((p) => p.members.size);
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = this.clock();
    let next = Infinity;
    for (const p of this.phases) {
      if (p.due <= now + this.earlyMs) {
        let due = Infinity;
        for (const s of p.members) due = Math.min(due, s.service(now));
        p.due = due;
      }
      next = Math.min(next, p.due);
    }
    this.arm(next);
  };

  private arm(due: number): void {
    if (due === Infinity || (this.timer !== undefined && this.armedFor <= due)) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = due;
    this.timer = setTimeout(this.tick, Math.max(0, due - this.earlyMs - this.clock()));
  }
}
