/** 20 ms of G.711 at 8 kHz: 160 samples, one byte each. */
export const FRAME_MS = 20;
export const FRAME_BYTES = 160;

export interface PlayJob {
  id: number;
  clips: readonly Uint8Array[];
  bargeIn: boolean;
}

interface Cursor {
  job: PlayJob;
  clip: number;
  offset: number;
}

/**
 * The queue of prompts of one stream, cut into 20 ms frames. Clips and queued jobs follow each other
 * inside frames (a frame may hold the end of one clip and the start of the next), so a sequence plays
 * as one continuous stream with no gap and no click; only when the queue runs dry is the rest of the
 * frame, and every later frame, the codec's silence byte. Pure: no sockets, no clock.
 */
export class Playout {
  private readonly queue: Cursor[] = [];

  constructor(private silence: number) {}

  /** Re-encodes every queued clip (and the silence) for another codec, keeping each job's position. */
  recode(silence: number, convert: (clip: Uint8Array) => Uint8Array): void {
    this.silence = silence;
    for (const cursor of this.queue) cursor.job = { ...cursor.job, clips: cursor.job.clips.map(convert) };
  }

  enqueue(job: PlayJob): void {
    this.queue.push({ job, clip: 0, offset: 0 });
  }

  /** Fills `out` (FRAME_BYTES) with the next frame; returns the jobs whose last byte it carries. */
  nextFrame(out: Uint8Array): PlayJob[] {
    const done: PlayJob[] = [];
    let o = 0;
    while (o < out.length) {
      const head = this.queue[0];
      if (!head) break;
      const clip = head.job.clips[head.clip];
      if (!clip) {
        this.queue.shift();
        done.push(head.job);
        continue;
      }
      const take = Math.min(out.length - o, clip.length - head.offset);
      out.set(clip.subarray(head.offset, head.offset + take), o);
      o += take;
      head.offset += take;
      if (head.offset >= clip.length) {
        head.clip++;
        head.offset = 0;
      }
    }
    // A job that ended exactly on the frame boundary is finished now, not one frame later.
    while (this.queue[0] && this.queue[0].clip >= this.queue[0].job.clips.length) done.push(this.queue.shift()!.job);
    if (o < out.length) out.fill(this.silence, o);
    return done;
  }

  /** The job now playing, if any. */
  get current(): PlayJob | undefined {
    return this.queue[0]?.job;
  }

  /** Removes the job now playing (barge-in); the next frame starts the next job or silence. */
  dropCurrent(): PlayJob | undefined {
    return this.queue.shift()?.job;
  }

  /** Removes every job (stop). */
  clear(): PlayJob[] {
    return this.queue.splice(0).map((c) => c.job);
  }
}

/** How far behind schedule the pacer may fall before it skips ahead instead of catching up. */
export const MAX_CATCH_UP_FRAMES = 3;

/**
 * Drift-free frame schedule: frame n is due at t0 + n × 20 ms on a monotonic clock, whatever the
 * timer lateness of earlier frames. A pacer woken a little late sends the frames now due (at most
 * MAX_CATCH_UP_FRAMES + 1 back to back); one woken later than that skips the missed slots (the RTP
 * timestamp jumps, with the marker bit, and the audio resumes where it was) rather than bursting.
 */
export class Pacer {
  private n = 0;

  constructor(
    private readonly t0: number,
    private readonly earlyMs: number,
  ) {}

  /** When the next frame is due. */
  get nextDue(): number {
    return this.t0 + this.n * FRAME_MS;
  }

  /** At time `now`: how many frames to send now, and how many slots to skip before them. */
  poll(now: number): { send: number; skipped: number } {
    if (this.nextDue > now + this.earlyMs) return { send: 0, skipped: 0 };
    let skipped = 0;
    const behind = Math.floor((now - this.nextDue) / FRAME_MS);
    if (behind > MAX_CATCH_UP_FRAMES) {
      skipped = behind;
      this.n += behind;
    }
    let send = 0;
    while (this.nextDue <= now + this.earlyMs) {
      send++;
      this.n++;
    }
    return { send, skipped };
  }
}
