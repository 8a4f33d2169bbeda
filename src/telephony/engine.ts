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
  /**
   * Calls to us (consumer self-service): each goes to `handler`, which answers or refuses it. Only
   * engines that can answer have it (embedded, when created with `inbound`); until a handler is set,
   * calls are refused.
   */
  onIncomingCall?(handler: (call: IncomingCall) => void): void;
}

/** Who an inbound call says it is from. Numbers as the network wrote them: never logged. */
export interface IncomingCaller {
  /** The From URI's user part. */
  from: string | null;
  /** P-Asserted-Identity's number: meaningful only when `trustedSource`. */
  asserted: string | null;
  /** The call came from a configured trunk address (telephony.sip.trustedSources, the outbound proxy). */
  trustedSource: boolean;
}

export interface IncomingCall {
  readonly id: string;
  readonly caller: IncomingCaller;
  /** Answers: the call, or null when it could not be (the caller gave up, no common codec). */
  answer(log: Logger): Promise<Call | null>;
  /** Refuses without answering: busy (too many calls at once), forbidden (not from a trunk), unavailable. */
  reject(reason: 'busy' | 'forbidden' | 'unavailable'): void;
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
  /**
   * A call the network shows forwarded away from the number (181, Diversion, History-Info):
   * `refuse` = cancel it, or hang up on its answer before anything is said (result `forwarded`);
   * `allow` or absent = carry on. Config `risk.sipForwarding`; engines that cannot see it carry on.
   */
  forwarding?: 'allow' | 'refuse';
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

/** The rules that tell a recorded greeting from a person (Asterisk app_amd's, in ms of received audio). */
export interface ScreenOptions {
  /** Nothing heard for this long: a person waiting silently (proceed), not a machine. */
  initialSilenceMs: number;
  /** More voiced audio than this in the greeting, before a pause of afterGreetingSilenceMs: a machine. */
  maxGreetingMs: number;
  /** A pause this long after the greeting: the "hello" was a person's; proceed at once. */
  afterGreetingSilenceMs: number;
  /** The whole analysis ends undecided (proceed) after this long. */
  totalAnalysisMs: number;
  /** Voice shorter than this is a click or a breath, not a word. */
  minWordMs: number;
  /** More words than this before the pause: a machine. */
  maxWords: number;
}

/**
 * human: a short greeting then a pause (or a key). machine: a long greeting, too many words, or a
 * beep. unknown: silence, no decision in time, the call ended, or the engine cannot listen.
 */
export interface ScreenResult {
  verdict: 'human' | 'machine' | 'unknown';
  reason: 'after_greeting_silence' | 'digit' | 'long_greeting' | 'max_words' | 'beep' | 'initial_silence' | 'total_time' | 'hung_up' | 'not_supported' | 'disabled';
  /** Audio analysed (ms). */
  elapsedMs: number;
  words: number;
}

export interface Call {
  readonly id: string;
  readonly log: Logger;
  /** Plays WAV clips (8 kHz mono 16-bit) back to back as one stream. */
  play(clips: readonly string[], opts?: PlayOptions): Promise<PlayResult>;
  /** Collects digits; digits keyed before (e.g. during a prompt) are taken first. */
  collect(opts: CollectOptions): Promise<CollectResult>;
  /**
   * Listens to the far end's greeting before anything is said (answering-machine detection). Engines
   * that cannot listen leave it out: the call then proceeds as if a person answered.
   */
  screen?(opts: ScreenOptions): Promise<ScreenResult>;
  /** Ends the call (BYE) if it is still up; idempotent. */
  hangup(): Promise<void>;
  /** Resolves when the call is over, whoever ended it. */
  readonly ended: Promise<CallRecord>;
  record(): CallRecord;
}
