/**
 * The media worker: every RTP/RTCP socket and the 20 ms pacing loop of every call live on this thread, so
 * audio keeps its rhythm while the main thread runs HTTP, SQLite or Argon2id. One worker serves all
 * sessions of an engine with one timer. Streams are spread over PHASE_SLOTS phases of the 20 ms frame
 * (each new stream joins the least used phase): a wake-up sends only the frames of the streams due
 * in that phase, so thousands of calls leave in small bursts every 2 ms instead of one long burst
 * every 20 ms, and each stream's own frames stay exactly 20 ms apart.
 * Started by session.ts; speaks the messages of protocol.ts.
 */
import type { Socket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { getHeapStatistics } from 'node:v8';
import { DtmfReceiver, type MediaLog } from './dtmf.js';
import { decode, SILENCE_BYTE, transcode, type Codec } from './g711.js';
import { DigitMerger, InbandDtmfDetector, inbandDtmfEnabled, type DigitSource } from './inband-dtmf.js';
import { IntervalHistogram } from './histogram.js';
import { MediaPeer } from './media-peer.js';
import { FRAME_BYTES, FRAME_MS, Pacer, Playout, type PlayJob } from './playout.js';
import type { EngineStats, FromWorker, PlayEnd, SessionStats, ToWorker } from './protocol.js';
import { PhaseScheduler } from './phase-scheduler.js';
import { parseRtp, RtpSender } from './rtp.js';
import { RtpPortAllocator } from './rtp-ports.js';
import { Screening } from './screening.js';
import type { Digit, ScreenOptions } from '../engine.js';
import { linuxThreadId, raiseThreadPriority } from '../thread-priority.js';

/** Frames due within this many ms are sent now: timers fire on whole milliseconds, usually late. */
const EARLY_MS = 0.5;
/**
 * Phases of the 20 ms frame the streams are spread over. At 2000 calls one burst of all streams takes
 * ≈ 9 ms to leave, so a stream late in it sees the burst's own jitter; 10 phases of 2 ms cut each
 * burst to a tenth for 500 wake-ups a second (a wake-up costs a few µs).
 */
const PHASE_SLOTS = 10;

const port = parentPort;
if (!port) throw new Error('media-worker must run as a worker thread');
const post = (m: FromWorker) => port.postMessage(m);

/**
 * The pacing thread asks Linux for a higher priority (nice -10, and SCHED_FIFO at
 * `telephony.rtp.realtimePriority` when that is not 0) so that a busy main thread (HTTP, SQLite)
 * cannot make it wait for a CPU (thread-priority.ts).
 */
const threadId = linuxThreadId();
const realtime = (workerData as { realtimePriority?: number } | null)?.realtimePriority ?? 0;
for (const why of raiseThreadPriority({ nice: -10, realtime }).notDone) {
  post({ ev: 'log', sid: 0, level: 'debug', fields: { why }, msg: 'media thread priority not raised' });
}

interface Stream {
  codec: Codec;
  /** False while the peer holds the call: frames are paced and consumed, not sent. */
  sending: boolean;
  sender: RtpSender;
  receiver: DtmfReceiver;
  /** Listens for DTMF tones in the received audio; null when off for this call. */
  inband: InbandDtmfDetector | null;
  pacer: Pacer;
  playout: Playout;
}

class Session {
  stream: Stream | null = null;
  sent = 0;
  received = 0;
  digits = 0;
  resyncs = 0;
  /** Ignored by receivers of earlier remotes (before a re-INVITE). */
  private ignoredBefore = 0;
  private lastSend = -1;
  /** The phase of the frame this session's stream is sent in (scheduler), set when it first starts. */
  phase = 0;
  readonly intervals = new IntervalHistogram();
  private readonly frame = new Uint8Array(FRAME_BYTES);
  /** One key press heard both as an RFC 4733 event and as tones is one digit. */
  private readonly merger = new DigitMerger();
  readonly log: MediaLog;
  /** The phone's side: latching, RTCP, the inactivity timeout. */
  readonly peer: MediaPeer;
  screening: Screening | null = null; // the greeting's answering-machine screen, until it reports

  constructor(
    readonly sid: number,
    readonly socket: Socket,
    readonly rtcpSocket: Socket,
    readonly port: number,
    o: Pick<Extract<ToWorker, { op: 'open' }>, 'symmetric' | 'inactivityMs' | 'rtcpIntervalMs'>,
  ) {
    const log = (level: 'warn' | 'info' | 'debug') => (fields: object, msg: string) => post({ ev: 'log', sid, level, fields, msg });
    this.log = { warn: log('warn'), debug: log('debug') };
    this.peer = new MediaPeer({
      rtpSocket: socket,
      rtcpSocket,
      ...o,
      log: { ...this.log, info: log('info') },
      sender: () => {
        const s = this.stream;
        if (!s) return null;
        // The timestamp of "now": the next frame's, less the time until it is due (8 samples per ms).
        const rtpTimestampAt = (now: number) => (s.sender.nextTimestamp - Math.round((s.pacer.nextDue - now) * 8)) >>> 0;
        return { ssrc: s.sender.ssrc, packets: this.sent, octets: this.sent * FRAME_BYTES, rtpTimestampAt };
      },
      onTimeout: (silentMs) => post({ ev: 'media_timeout', sid, silentMs }),
    });
    socket.on('message', (msg, rinfo) => this.onPacket(msg, rinfo));
    let sendErrors = 0;
    socket.on('error', (e) => {
      // Sends without a callback report here (e.g. EHOSTUNREACH); the stream goes on regardless.
      if (sendErrors++ < 3) post({ ev: 'log', sid, level: 'warn', fields: { err: e.message }, msg: 'RTP socket error' });
    });
  }

  start(m: Extract<ToWorker, { op: 'start' }>): void {
    const old = this.stream;
    // A re-INVITE (new remote, codecs or hold state) keeps the stream's SSRC, sequence and timestamp
    // running, its place in the prompt, and what its DTMF receiver has seen of the event in progress.
    const sender = new RtpSender(
      old
        ? { payloadType: m.payloadType, ssrc: old.sender.ssrc, sequence: old.sender.nextSequence, timestamp: old.sender.nextTimestamp }
        : { payloadType: m.payloadType },
    );
    if (old) {
      sender.markTalkspurt();
      this.ignoredBefore += ignoredBy(old.receiver);
    }
    const receiver = new DtmfReceiver(
      { remote: null, audioPayloadType: m.payloadType, telephoneEventPt: m.telephoneEventPt, log: this.log },
      old?.receiver,
    );
    const playout = old?.playout ?? new Playout(SILENCE_BYTE[m.codec]);
    if (old && old.codec !== m.codec) playout.recode(SILENCE_BYTE[m.codec], (clip) => transcode(old.codec, m.codec, clip));
    this.stream = {
      codec: m.codec,
      sending: m.send,
      sender,
      receiver,
      inband: inbandDtmfEnabled(m.inbandDtmf, m.telephoneEventPt) ? (old?.inband ?? new InbandDtmfDetector()) : null,
      // Every stream is on the 20 ms grid of its phase: the streams of one phase fall due together,
      // so the worker wakes PHASE_SLOTS × 50 times a second whatever the number of calls.
      pacer: old?.pacer ?? this.newPacer(),
      playout,
    };
    this.peer.start({
      remote: m.remote, rtcpMux: m.rtcpMux, rtcp: m.rtcp, payloadType: m.payloadType, telephoneEventPt: m.telephoneEventPt, send: m.send, receive: m.receive,
    });
    scheduler.add(this);
  }

  private newPacer(): Pacer {
    this.phase = scheduler.leastUsedPhase();
    return new Pacer(scheduler.phaseStart(this.phase, performance.now()), EARLY_MS);
  }

  /** Sends every frame now due; returns when the next one is. */
  service(now: number): number {
    const s = this.stream;
    if (!s) return Infinity;
    const { send, skipped } = s.pacer.poll(now);
    if (skipped > 0) {
      s.sender.skip(skipped * FRAME_BYTES);
      this.resyncs++;
    }
    for (let i = 0; i < send; i++) {
      const done = s.playout.nextFrame(this.frame);
      for (const job of done) played(this.sid, job, 'completed');
      if (!s.sending) {
        s.sender.skip(FRAME_BYTES); // held: time runs on, nothing is sent, the next packet has the marker
        this.lastSend = -1; // a hold is not a pacing interval
        continue;
      }
      const to = this.peer.rtpTarget!; // set by start(), like the stream
      this.socket.send(s.sender.next(this.frame, FRAME_BYTES), to.port, to.address);
      const t = performance.now();
      if (this.lastSend >= 0) {
        const dt = t - this.lastSend;
        this.intervals.add(dt);
        allIntervals.add(dt);
      }
      this.lastSend = t;
      this.sent++;
      totals.sent++;
    }
    return s.pacer.nextDue;
  }

  private onPacket(msg: Buffer, rinfo: { address: string; port: number }): void {
    const s = this.stream;
    if (!s) return; // before start: the peer's address is not known yet
    if (!this.peer.admit(msg, rinfo)) return; // RTCP (muxed), or not from the phone
    const input = s.receiver.receive(msg, rinfo);
    this.received++;
    totals.received++;
    if (input.kind === 'digit') this.deliver(input.digit, 'rfc4733');
    else if (input.kind === 'audio' && (s.inband || this.screening)) {
      const parsed = parseRtp(msg);
      if (!parsed.ok) return;
      const audio = linear(parsed.packet.payload, s.codec);
      this.screening?.push(audio);
      if (s.inband) for (const digit of s.inband.push(audio)) this.deliver(digit, 'inband');
    }
  }

  private deliver(digit: Digit, source: DigitSource): void {
    if (!this.merger.accept(digit, source, performance.now())) return;
    this.digits++;
    totals.digits++;
    post({ ev: 'digit', sid: this.sid, digit });
    this.screening?.digit();
    const current = this.stream?.playout.current;
    if (current?.bargeIn) {
      this.stream!.playout.dropCurrent();
      played(this.sid, current, 'digit');
    }
  }

  play(job: PlayJob, codec: Codec): void {
    const s = this.stream;
    if (!s) {
      played(this.sid, job, 'stopped');
      return;
    }
    // Encoded on the main thread before a re-INVITE changed the codec: re-encoded here.
    s.playout.enqueue(codec === s.codec ? job : { ...job, clips: job.clips.map((c) => transcode(codec, s.codec, c)) });
  }

  stop(): void {
    for (const job of this.stream?.playout.clear() ?? []) played(this.sid, job, 'stopped');
  }

  bargeIn(): void {
    const current = this.stream?.playout.current;
    if (current?.bargeIn) {
      this.stream!.playout.dropCurrent();
      played(this.sid, current, 'digit');
    }
  }

  screen(opts: ScreenOptions): void {
    this.screening?.cancel();
    const screening = new Screening(opts, (result) => {
      if (this.screening === screening) this.screening = null;
      post({ ev: 'screened', sid: this.sid, result });
    });
    this.screening = screening;
  }

  /** Stops the stream, sends the RTCP BYE, then closes both sockets and hands over the final stats. */
  close(done: (stats: SessionStats) => void): void {
    this.screening?.cancel();
    scheduler.remove(this);
    for (const job of this.stream?.playout.clear() ?? []) played(this.sid, job, 'closed');
    this.peer.close(() => {
      const stats = this.stats();
      this.stream = null;
      for (const socket of [this.socket, this.rtcpSocket]) {
        try {
          socket.close();
        } catch {
          // already closed
        }
      }
      done(stats);
    });
  }

  stats(): SessionStats {
    return {
      sent: this.sent,
      received: this.received,
      digits: this.digits,
      ignored: this.ignoredCount(),
      resyncs: this.resyncs,
      sendIntervalMs: this.intervals.summary(),
      rtcpSent: this.peer.rtcp.sent,
      rtcpReceived: this.peer.rtcp.received,
    };
  }

  ignoredCount(): number {
    return this.ignoredBefore + ignoredBy(this.stream?.receiver) + this.peer.dropped + this.peer.rtcp.ignored;
  }
}

/** One packet's audio, decoded into a buffer reused across packets (the detector copies what it keeps). */
let pcm = new Int16Array(FRAME_BYTES);
function linear(payload: Uint8Array, codec: Codec): Int16Array {
  if (pcm.length < payload.length) pcm = new Int16Array(payload.length);
  return decode(codec, payload, pcm);
}

function ignoredBy(receiver: DtmfReceiver | undefined): number {
  return receiver ? Object.values(receiver.ignored).reduce((a, b) => a + b, 0) : 0;
}

function played(sid: number, job: PlayJob, end: PlayEnd): void {
  post({ ev: 'played', sid, job: job.id, end });
}

const scheduler = new PhaseScheduler<Session>(PHASE_SLOTS, EARLY_MS);

const sessions = new Map<number, Session>();
const allIntervals = new IntervalHistogram();
const totals = { sent: 0, received: 0, digits: 0, resyncs: 0, ignored: 0, rtcpSent: 0, rtcpReceived: 0 };
const ports = new RtpPortAllocator();

async function open(m: Extract<ToWorker, { op: 'open' }>): Promise<void> {
  const r = await ports.open(m.bindHost, m.portMin, m.portMax);
  if (!r.ok) return post({ ev: 'open_failed', sid: m.sid, code: r.code, message: r.message });
  sessions.set(m.sid, new Session(m.sid, r.socket, r.rtcpSocket, r.port, m));
  post({ ev: 'opened', sid: m.sid, port: r.port });
}

function engineStats(reset: boolean): EngineStats {
  let { ignored, resyncs, rtcpSent, rtcpReceived } = totals;
  for (const s of sessions.values()) {
    ignored += s.ignoredCount();
    resyncs += s.resyncs;
    rtcpSent += s.peer.rtcp.sent;
    rtcpReceived += s.peer.rtcp.received;
  }
  const stats: EngineStats = {
    sessions: sessions.size,
    sent: totals.sent,
    received: totals.received,
    digits: totals.digits,
    ignored,
    resyncs,
    sendIntervalMs: allIntervals.summary(),
    rtcpSent,
    rtcpReceived,
    ...(threadId !== undefined ? { threadId } : {}),
    heapUsedBytes: getHeapStatistics().used_heap_size,
    sendIntervalHistogram: allIntervals.export(),
  };
  if (reset) allIntervals.reset();
  return stats;
}

port.on('message', (m: ToWorker) => {
  switch (m.op) {
    case 'open':
      void open(m);
      return;
    case 'stats':
      if (m.sid === null) post({ ev: 'stats', req: m.req, stats: engineStats(m.reset) });
      else post({ ev: 'stats', req: m.req, stats: sessions.get(m.sid)?.stats() ?? null });
      return;
    case 'close': {
      const s = sessions.get(m.sid);
      if (!s) return;
      sessions.delete(m.sid);
      s.close((stats) => {
        ports.release(s.port);
        // Closed sessions still count in the engine totals.
        totals.ignored += stats.ignored;
        totals.resyncs += stats.resyncs;
        totals.rtcpSent += stats.rtcpSent;
        totals.rtcpReceived += stats.rtcpReceived;
        post({ ev: 'closed', sid: m.sid, stats });
      });
      return;
    }
  }
  const s = sessions.get(m.sid);
  if (!s) return;
  switch (m.op) {
    case 'start':
      s.start(m);
      return;
    case 'play':
      s.play({ id: m.job, clips: m.clips, bargeIn: m.bargeIn }, m.codec);
      return;
    case 'stop':
      s.stop();
      return;
    case 'barge':
      s.bargeIn();
      return;
    case 'screen':
      return s.screen(m.opts);
  }
});

post({ ev: 'ready' });
