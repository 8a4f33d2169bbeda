/**
 * One call's greeting screen in the media worker: the received audio goes to a MachineDetector, and
 * a timer counts the time no audio came as silence (a phone that sends nothing, or suppresses
 * silence) and bounds the whole analysis by the wall clock. Reports once.
 */
import type { ScreenOptions, ScreenResult } from '../engine.js';
import { MachineDetector } from './amd.js';

const TICK_MS = 50;
/** Audio may arrive this late (network jitter) before the gap counts as silence. */
const LATE_MS = 60;
const FRAME_MS = 20;

export class Screening {
  private readonly detector: MachineDetector;
  private readonly started = performance.now();
  private lastAudio = this.started;
  private readonly timer: ReturnType<typeof setInterval>;
  private done = false;

  constructor(private readonly o: ScreenOptions, private readonly report: (r: ScreenResult) => void) {
    this.detector = new MachineDetector(o);
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  push(pcm: Int16Array): void {
    this.lastAudio = performance.now();
    this.settle(this.detector.push(pcm));
  }

  /** A key pressed: only a person does that. */
  digit(): void {
    this.settle(this.detector.finish('human', 'digit'));
  }

  /** The call ended (or a new screen replaced this one). */
  cancel(): void {
    this.settle(this.detector.finish('unknown', 'hung_up'));
  }

  private tick(): void {
    const now = performance.now();
    if (now - this.started >= this.o.totalAnalysisMs + LATE_MS) return this.settle(this.detector.finish('unknown', 'total_time'));
    if (now - this.lastAudio < LATE_MS) return;
    const behind = Math.floor((now - this.started - LATE_MS - this.detector.elapsedMs) / FRAME_MS);
    if (behind > 0) this.settle(this.detector.pushSilence(behind));
  }

  private settle(r: ScreenResult | null): void {
    if (!r) return;
    clearInterval(this.timer);
    if (this.done) return;
    this.done = true;
    this.report(r);
  }

}
