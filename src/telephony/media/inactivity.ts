/**
 * The RTP inactivity timeout: a call whose phone has sent no RTP or RTCP for `timeoutMs` is dead
 * (the phone lost power or coverage, a NAT dropped the mapping) and would otherwise hold a payment
 * until its digit timeouts run out. Suspended while the phone is not supposed to send (it holds the
 * call); each resumption gives it the whole timeout again.
 *
 * `heard()` runs per packet, so it only stores a time; the one timer per call fires at the earliest
 * moment the timeout can be due and looks again.
 */
export class InactivityWatch {
  private last = 0;
  private active = false;
  private fired = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly onTimeout: (silentMs: number) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Media from the phone. */
  heard(): void {
    this.last = this.now();
  }

  /** Whether the phone is expected to send now; off → on restarts the count. A timeout of 0 never fires. */
  expect(on: boolean): void {
    if (this.timeoutMs <= 0 || this.fired || on === this.active) return;
    this.active = on;
    if (on) {
      this.last = this.now();
      this.arm(this.timeoutMs);
    } else {
      this.clear();
    }
  }

  stop(): void {
    this.active = false;
    this.clear();
  }

  private arm(ms: number): void {
    this.clear();
    this.timer = setTimeout(() => this.check(), Math.max(1, ms));
  }

  private check(): void {
    this.timer = undefined;
    if (!this.active) return;
    const silent = this.now() - this.last;
    if (silent >= this.timeoutMs) {
      this.fired = true;
      this.active = false;
      this.onTimeout(Math.round(silent));
      return;
    }
    this.arm(this.timeoutMs - silent);
  }

  private clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
