/** Messages between the main thread (session.ts) and the media worker (media-worker.ts). */
import type { Digit, ScreenOptions, ScreenResult } from '../engine.js';
import type { Codec } from './g711.js';
import type { HistogramExport, IntervalSummary } from './histogram.js';
import type { InbandDtmfMode } from './inband-dtmf.js';

export interface SessionStats {
  /** RTP packets sent. */
  sent: number;
  /** RTP packets received from the peer's address (audio, telephone-events, ignored ones). */
  received: number;
  digits: number;
  /** Packets dropped: not from the phone (RTP or RTCP), unnegotiated payload type, malformed (RTP or RTCP), bad events. */
  ignored: number;
  /** Times the pacer fell more than a few frames behind and skipped ahead instead of bursting. */
  resyncs: number;
  /** Intervals between consecutive packet sends of one stream, as measured when sending. */
  sendIntervalMs: IntervalSummary;
  /** RTCP compound packets sent (reports and the final BYE) and valid ones received from the phone. */
  rtcpSent: number;
  rtcpReceived: number;
}

export interface EngineStats extends SessionStats {
  /** Sessions open now. */
  sessions: number;
  /** The media worker's Linux thread id (/proc/<pid>/task/<tid>), for per-thread CPU figures; absent off Linux. */
  threadId?: number;
  /** With several media workers (media-pool.ts): every worker's thread id. */
  threadIds?: number[];
  /** The media worker's V8 heap in use, bytes. */
  heapUsedBytes?: number;
  /** The send-interval histogram behind `sendIntervalMs`, so several workers' figures can be merged (media-pool.ts). */
  sendIntervalHistogram?: HistogramExport;
}

export type PlayEnd = 'completed' | 'digit' | 'stopped' | 'closed';

export type ToWorker =
  | {
      op: 'open';
      sid: number;
      bindHost: string;
      portMin: number;
      portMax: number;
      /** Latch to where the phone's RTP comes from (latch.ts). */
      symmetric: boolean;
      /** No RTP or RTCP from the phone for this long ends the call; 0 = never. */
      inactivityMs: number;
      /** RTCP's minimum report interval (RFC 3550 Tmin, 5 s). */
      rtcpIntervalMs: number;
    }
  | {
      op: 'start';
      sid: number;
      remote: { address: string; port: number };
      /** RTCP on the RTP port (both sides said a=rtcp-mux, RFC 5761). */
      rtcpMux: boolean;
      /** The phone's a=rtcp address (RFC 3605), null = its RTP port + 1. */
      rtcp: { address: string; port: number } | null;
      codec: Codec;
      payloadType: number;
      telephoneEventPt: number | null;
      /** Whether to listen for DTMF tones in the audio (`auto`: when no telephone-event was negotiated). */
      inbandDtmf: InbandDtmfMode;
      /** False while the peer holds the call: frames are paced and consumed but not sent. */
      send: boolean;
      /** False when the phone is not supposed to send (recvonly, inactive): no inactivity timeout then. */
      receive: boolean;
    }
  | { op: 'play'; sid: number; job: number; clips: Uint8Array[]; codec: Codec; bargeIn: boolean }
  | { op: 'stop'; sid: number }
  | { op: 'barge'; sid: number }
  /** Listen to the phone's greeting (answering-machine detection); answered by one `screened`. */
  | { op: 'screen'; sid: number; opts: ScreenOptions }
  | { op: 'stats'; req: number; sid: number | null; reset: boolean }
  | { op: 'close'; sid: number };

export type FromWorker =
  | { ev: 'ready' }
  | { ev: 'opened'; sid: number; port: number }
  | { ev: 'open_failed'; sid: number; code: 'ports_exhausted' | 'config_invalid'; message: string }
  | { ev: 'digit'; sid: number; digit: Digit }
  /** No media from the phone for the inactivity timeout: the call should end. */
  | { ev: 'media_timeout'; sid: number; silentMs: number }
  | { ev: 'played'; sid: number; job: number; end: PlayEnd }
  | { ev: 'screened'; sid: number; result: ScreenResult }
  | { ev: 'stats'; req: number; stats: EngineStats | SessionStats | null }
  | { ev: 'closed'; sid: number; stats: SessionStats }
  | { ev: 'log'; sid: number; level: 'warn' | 'info' | 'debug' | 'error'; fields: object; msg: string };
