import type { Logger } from '../log.js';

import type { CallOutcome, CallRecord, NotAnswered } from '../domain/call.js';

export type { CallOutcome, CallRecord, NotAnswered };

/**
 * The telephone port shared by every engine (embedded SIP/RTP, FreeSWITCH). Expected results are
 * values: a dial that is not answered is a `DialResult`, not an exception. Protocol errors become
 * these outcomes at the engine's boundary.
 */
export interface CallEngine {
  /** Dials an E.164 number (always the enrolled one) and resolves once answered or finally not. */
  dial(req: DialRequest): Promise<DialResult>;
  close(): Promise<void>;
  /** False while the engine cannot place calls (e.g. FreeSWITCH's event socket is down): /readyz. */
  healthy?(): boolean;
  /** Media-path figures for metrics, where the engine sends the audio itself (embedded); send intervals reset on each read. */
  mediaStats?(): Promise<MediaStats | null>;
}

/** Totals since start, and RTP send intervals since the previous read. */
export interface MediaStats {
  sessions: number;
  sent: number;
  ignored: number;
  resyncs: number;
  rtcpSent: number;
  sendIntervalMs: { count: number; p50: number; p99: number; max: number };
}

export interface DialRequest {
  /** E.164, e.g. +886912345678; the engine turns it into a SIP URI by its template. */
  number: string;
  /** Per-call child logger (created by the caller with paymentId). */
  log: Logger;
  /** Abort = CANCEL while ringing, BYE once answered. */
  signal?: AbortSignal;
  /** Overrides the configured ring timeout (ms). */
  ringTimeoutMs?: number;
  /** Called on the first 180/183: the phone is ringing. */
  onRinging?: () => void;
}

export type DialResult =
  | { kind: 'answered'; call: Call }
  | { kind: NotAnswered; sipStatus: number | null; reason: string; record: CallRecord };

export type Digit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | '*' | '#' | 'A' | 'B' | 'C' | 'D';

/** play_and_get_digits-style collection (VoiceXML/FreeSWITCH semantics). */
export interface CollectOptions {
  minDigits: number;
  maxDigits: number;
  /** Keys that end input (not included in `digits`), e.g. "#". */
  terminators: string;
  /** Time allowed for the first digit, counted from the call to collect (or the end of the prompt). */
  firstDigitTimeoutMs: number;
  /** Time allowed between digits. */
  interDigitTimeoutMs: number;
}

export type CollectResult =
  /** `reason`: which rule ended input. `digits` never reach a log. */
  | { kind: 'digits'; digits: string; reason: 'terminator' | 'max_digits' | 'timeout'; terminator: string | null }
  | { kind: 'no_input' }
  | { kind: 'hung_up' };

export type PlayResult = { kind: 'completed' } | { kind: 'interrupted'; by: 'digit' } | { kind: 'hung_up' };

export interface PlayOptions {
  /** A digit keyed during playback stops it (the digit is kept for the next collect). */
  bargeIn: boolean;
}

export interface Call {
  readonly id: string;
  readonly log: Logger;
  /** Plays WAV clips (8 kHz mono 16-bit) back to back as one stream. */
  play(clips: readonly string[], opts?: PlayOptions): Promise<PlayResult>;
  /** Collects digits; digits keyed before (e.g. during a prompt) are taken first. */
  collect(opts: CollectOptions): Promise<CollectResult>;
  /** Ends the call (BYE) if it is still up; idempotent. */
  hangup(): Promise<void>;
  /** Resolves when the call is over, whoever ended it. */
  readonly ended: Promise<CallRecord>;
  record(): CallRecord;
}
