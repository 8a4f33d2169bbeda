import { Worker } from 'node:worker_threads';
import type { Logger } from '../../log.js';
import type { Digit, PlayOptions, PlayResult, ScreenOptions, ScreenResult } from '../engine.js';
import { MediaError } from './errors.js';
import type { Codec } from './g711.js';
import type { InbandDtmfMode } from './inband-dtmf.js';
import type { EngineStats, FromWorker, PlayEnd, SessionStats, ToWorker } from './protocol.js';
import { RTCP_INTERVAL_MS } from './rtcp-session.js';
import { workerStart, type RemoteMedia } from './remote-media.js';
import { ClipCache } from './wav.js';

export type { EngineStats, SessionStats } from './protocol.js';
export type { RemoteMedia } from './remote-media.js';

export interface MediaEngineOptions {
  /** Local address the RTP sockets bind to (config `telephony.rtp.bindHost`). */
  bindHost: string;
  /** One pair per call in [portMin, portMax]: an even port for RTP, the next one for RTCP. */
  portMin: number;
  portMax: number;
  /** Config `telephony.rtp.inbandDtmf`; `auto` by default. */
  inbandDtmf?: InbandDtmfMode;
  /** Config `telephony.rtp.symmetric` (true there): latch to where the phone's RTP comes from (latch.ts). Default false: the SDP address only. */
  symmetric?: boolean;
  /** Config `telephony.rtp.inactivityTimeoutSeconds`, in ms: no RTP or RTCP from the phone for this long → `onMediaTimeout`. Default 0 = off. */
  inactivityTimeoutMs?: number;
  /** RTCP's minimum report interval (RFC 3550 §6.2 Tmin); 5000 ms by default, shorter in tests. */
  rtcpIntervalMs?: number;
  log: Logger;
  /** Shared prompt cache; a private one by default. */
  clips?: ClipCache;
  /** SCHED_FIFO priority for the worker's thread (config `telephony.rtp.realtimePriority`); 0 or absent = none (thread-priority.ts). */
  realtimePriority?: number;
  /** Tests only: a different worker script. */
  workerUrl?: URL;
}

/** PlayResult plus `stopped` (ended by `stop()`). Closing the session reports `hung_up`. */
export type MediaPlayResult = PlayResult | { kind: 'stopped' };

export type MediaSessionEnd = 'closed' | 'worker_failed';

export interface MediaSession {
  readonly localPort: number;
  /** Starts sending (silence until something plays) and receiving. Again later = new remote, codec or hold state (re-INVITE). */
  start(remote: RemoteMedia): Promise<void>;
  /**
   * Queues clips as one continuous stream after anything already queued; resolves when its last frame
   * is sent, or when a digit interrupts it (bargeIn), stop(), or close().
   */
  play(clipPaths: readonly string[], opts?: PlayOptions): Promise<MediaPlayResult>;
  /** Ends every queued prompt at the next frame boundary. */
  stop(): void;
  /** A digit arrived by another path (SIP INFO): interrupt the current prompt if it allows barge-in. */
  bargeIn(): void;
  /** Listens to the phone's greeting (answering-machine detection, amd.ts); `unknown`/`hung_up` if the session ends first. */
  screen(opts: ScreenOptions): Promise<ScreenResult>;
  /** Digits from RFC 4733 events and (per `inbandDtmf`) tones in the audio, once per key press. Returns an unsubscribe function. */
  onDigit(listener: (digit: Digit) => void): () => void;
  /** The phone sent no RTP or RTCP for the inactivity timeout while it should have: the call is dead. At most once. */
  onMediaTimeout(listener: (silentMs: number) => void): void;
  stats(): Promise<SessionStats>;
  /** Releases the port; pending plays resolve `hung_up`. Idempotent; resolves with the final stats. */
  close(): Promise<SessionStats>;
  /** Settles when the session is closed, or lost with its worker. */
  readonly ended: Promise<MediaSessionEnd>;
}

export interface MediaEngine {
  openSession(opts?: { log?: Logger }): Promise<MediaSession>;
  /** Totals over all sessions since start (or the last reset of the interval histogram). */
  stats(opts?: { resetIntervals?: boolean }): Promise<EngineStats>;
  /** Closes every session and stops the worker. */
  close(): Promise<void>;
}

const EMPTY_STATS: SessionStats = {
  sent: 0,
  received: 0,
  digits: 0,
  ignored: 0,
  resyncs: 0,
  sendIntervalMs: { count: 0, p50: 0, p99: 0, max: 0 },
  rtcpSent: 0,
  rtcpReceived: 0,
};

/**
 * The worker runs from compiled code as media-worker.js. From src/ (vitest, tsx) there is no .js
 * file: a small .mjs bootstrap registers tsx inside the worker and imports media-worker.ts.
 */
function spawnWorker(override: URL | undefined, realtimePriority: number): Worker {
  if (override) return new Worker(override, { workerData: { realtimePriority } });
  if (import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./worker-boot.mjs', import.meta.url), {
      workerData: { entry: new URL('./media-worker.ts', import.meta.url).href, realtimePriority },
    });
  }
  return new Worker(new URL('./media-worker.js', import.meta.url), { workerData: { realtimePriority } });
}

interface SessionHooks {
  onMessage(m: FromWorker): void;
  fail(): void;
  close(): Promise<SessionStats>;
}

/**
 * RTP for the embedded engine, main-thread side. Sockets and pacing run in one worker thread per
 * engine (see media-worker.ts); this side loads and caches prompts and turns worker events into
 * promises and digit callbacks.
 *
 * Once started, a session sends a frame every 20 ms for as long as it is open: prompt audio when
 * something plays, the codec's silence byte otherwise. A continuous stream (no silence suppression)
 * keeps NAT bindings and SBC media latching alive, never trips a peer's RTP timeout, and needs no
 * talkspurt resync between prompts; the marker bit is set on the first packet only (and after a
 * pacing skip).
 *
 * Wiring into a Call: `onDigit` → `DigitCollector.push`; a SIP INFO digit → `push` plus `bargeIn()`;
 * hang-up → `DigitCollector.hangUp()` and `close()`; `hung_up`/`stopped` play results as the call sees fit.
 */
export function createMediaEngine(opts: MediaEngineOptions): MediaEngine {
  const { bindHost, portMin, portMax, log } = opts;
  const inbandDtmf = opts.inbandDtmf ?? 'auto';
  if (!Number.isSafeInteger(portMin) || !Number.isSafeInteger(portMax) || portMin < 1 || portMax > 65535) {
    throw new MediaError('config_invalid', 'RTP ports must be integers in 1..65535');
  }
  if (portMin + (portMin & 1) + 1 > portMax) {
    throw new MediaError('config_invalid', `RTP port range [${portMin}, ${portMax}] holds no RTP/RTCP pair (an even port and the next)`);
  }
  const inactivityMs = opts.inactivityTimeoutMs ?? 0;
  const rtcpIntervalMs = opts.rtcpIntervalMs ?? RTCP_INTERVAL_MS;
  if (!Number.isSafeInteger(inactivityMs) || inactivityMs < 0 || !Number.isSafeInteger(rtcpIntervalMs) || rtcpIntervalMs < 1) {
    throw new MediaError('config_invalid', 'the inactivity timeout and RTCP interval must be whole milliseconds (timeout 0 = off)');
  }
  const media = { symmetric: opts.symmetric ?? false, inactivityMs, rtcpIntervalMs };
  const clips = opts.clips ?? new ClipCache();
  const sessions = new Map<number, SessionHooks>();
  const opening = new Map<number, { resolve(port: number): void; reject(e: Error): void }>();
  const statsRequests = new Map<number, (s: EngineStats | SessionStats | null) => void>();
  let nextId = 1;
  let worker: Worker | null = null;
  let ready: Promise<Worker> | null = null;
  let closed = false;

  function startWorker(): Promise<Worker> {
    if (ready) return ready;
    const w = spawnWorker(opts.workerUrl, opts.realtimePriority ?? 0);
    worker = w;
    ready = new Promise<Worker>((resolve, reject) => {
      const lost = (why: string) => {
        if (worker !== w) return;
        worker = null;
        ready = null;
        const err = new MediaError('engine_unavailable', `media worker ${why}`);
        reject(err);
        if (!closed) log.error({ why }, 'media worker lost; its calls have no audio');
        for (const o of opening.values()) o.reject(err);
        opening.clear();
        for (const r of statsRequests.values()) r(null);
        statsRequests.clear();
        for (const s of [...sessions.values()]) s.fail();
        sessions.clear();
      };
      w.on('message', (m: FromWorker) => {
        if (m.ev === 'ready') {
          resolve(w);
          return;
        }
        dispatch(m);
      });
      w.on('error', (e) => {
        lost(`crashed: ${e.message}`);
        void w.terminate();
      });
      w.on('exit', (code) => lost(`exited (${code})`));
    });
    ready.catch(() => {}); // observed by openSession; an idle failure must not be unhandled
    w.unref(); // sessions ref it while open
    return ready;
  }

  function dispatch(m: FromWorker): void {
    switch (m.ev) {
      case 'opened':
        opening.get(m.sid)?.resolve(m.port);
        opening.delete(m.sid);
        return;
      case 'open_failed':
        opening.get(m.sid)?.reject(new MediaError(m.code, m.message));
        opening.delete(m.sid);
        return;
      case 'stats':
        statsRequests.get(m.req)?.(m.stats);
        statsRequests.delete(m.req);
        return;
      case 'ready':
        return;
      default:
        sessions.get(m.sid)?.onMessage(m);
    }
  }

  function send(m: ToWorker): void {
    worker?.postMessage(m);
  }

  function requestStats(sid: number | null, reset: boolean): Promise<EngineStats | SessionStats | null> {
    if (!worker) return Promise.resolve(null);
    const req = nextId++;
    return new Promise((resolve) => {
      statsRequests.set(req, resolve);
      send({ op: 'stats', req, sid, reset });
    });
  }

  function refresh(): void {
    if (!worker) return;
    if (sessions.size > 0 || opening.size > 0) worker.ref();
    else worker.unref();
  }

  async function openSession(o: { log?: Logger } = {}): Promise<MediaSession> {
    if (closed) throw new MediaError('engine_unavailable', 'media engine is closed');
    const w = await startWorker();
    const sid = nextId++;
    const localPort = await new Promise<number>((resolve, reject) => {
      opening.set(sid, { resolve, reject });
      refresh();
      w.postMessage({ op: 'open', sid, bindHost, portMin, portMax, ...media } satisfies ToWorker);
    }).finally(refresh);
    return newSession(sid, localPort, (o.log ?? log).child({ rtpPort: localPort }));
  }

  function newSession(sid: number, localPort: number, slog: Logger): MediaSession {
    const listeners = new Set<(d: Digit) => void>();
    const timeoutListeners = new Set<(silentMs: number) => void>();
    const plays = new Map<number, (r: MediaPlayResult) => void>();
    const screens = new Set<(r: ScreenResult) => void>();
    let codec: Codec | null = null;
    let state: 'open' | 'closing' | 'ended' = 'open';
    let finalStats: SessionStats | null = null;
    let closing: Promise<SessionStats> | null = null;
    let closedResolve: (s: SessionStats) => void = () => {};
    let endedResolve: (e: MediaSessionEnd) => void = () => {};
    const ended = new Promise<MediaSessionEnd>((r) => (endedResolve = r));

    const end = (how: MediaSessionEnd, stats: SessionStats) => {
      if (state === 'ended') return;
      state = 'ended';
      finalStats = stats;
      sessions.delete(sid);
      refresh();
      for (const r of plays.values()) r({ kind: 'hung_up' });
      plays.clear();
      for (const r of screens) r({ verdict: 'unknown', reason: 'hung_up', elapsedMs: 0, words: 0 });
      screens.clear();
      listeners.clear();
      timeoutListeners.clear();
      closedResolve(stats);
      endedResolve(how);
    };

    /** A listener that throws is logged; the others still hear the event. */
    const notify = <T>(to: Set<(v: T) => void>, value: T, what: string) => {
      for (const l of to) {
        try {
          l(value);
        } catch (e) {
          slog.error({ err: e }, `${what} listener failed`);
        }
      }
    };

    const resultOf: Record<PlayEnd, MediaPlayResult> = {
      completed: { kind: 'completed' },
      digit: { kind: 'interrupted', by: 'digit' },
      stopped: { kind: 'stopped' },
      closed: { kind: 'hung_up' },
    };

    const hooks: SessionHooks = {
      close: () => session.close(),
      onMessage(m) {
        switch (m.ev) {
          case 'digit':
            return notify(listeners, m.digit, 'digit');
          case 'media_timeout':
            notify(timeoutListeners, m.silentMs, 'media timeout');
            return timeoutListeners.clear();
          case 'played':
            plays.get(m.job)?.({ ...resultOf[m.end] });
            plays.delete(m.job);
            return;
          case 'screened':
            for (const r of screens) r(m.result);
            return screens.clear();
          case 'closed':
            end('closed', m.stats);
            return;
          case 'log':
            slog[m.level](m.fields, m.msg);
            return;
        }
      },
      fail: () => end('worker_failed', EMPTY_STATS),
    };

    const session: MediaSession = {
      localPort,
      ended,
      async start(remote) {
        if (state !== 'open') throw new MediaError('invalid_state', 'media session is closed');
        const start = await workerStart(remote);
        if (state !== 'open') throw new MediaError('invalid_state', 'media session is closed');
        codec = remote.codec;
        send({ op: 'start', sid, ...start, inbandDtmf });
      },
      async play(clipPaths, po = { bargeIn: false }) {
        if (state !== 'open') return { kind: 'hung_up' };
        const c = codec;
        if (!c) throw new MediaError('invalid_state', 'play before start: the codec is not negotiated yet');
        const encoded = await Promise.all(clipPaths.map((p) => clips.loadClip(p, c)));
        if (state !== 'open') return { kind: 'hung_up' };
        const job = nextId++;
        return new Promise<MediaPlayResult>((resolve) => {
          plays.set(job, resolve);
          send({ op: 'play', sid, job, clips: encoded, codec: c, bargeIn: po.bargeIn });
        });
      },
      stop() {
        if (state === 'open') send({ op: 'stop', sid });
      },
      bargeIn() {
        if (state === 'open') send({ op: 'barge', sid });
      },
      screen(opts) {
        if (state !== 'open') return Promise.resolve({ verdict: 'unknown', reason: 'hung_up', elapsedMs: 0, words: 0 });
        return new Promise<ScreenResult>((resolve) => {
          screens.add(resolve);
          send({ op: 'screen', sid, opts });
        });
      },
      onDigit(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      onMediaTimeout(listener) {
        if (state === 'open') timeoutListeners.add(listener);
      },
      async stats() {
        if (state === 'ended') return finalStats ?? EMPTY_STATS;
        return ((await requestStats(sid, false)) as SessionStats | null) ?? finalStats ?? EMPTY_STATS;
      },
      close() {
        if (state === 'ended') return Promise.resolve(finalStats ?? EMPTY_STATS);
        if (!closing) {
          state = 'closing';
          closing = new Promise<SessionStats>((r) => (closedResolve = r));
          send({ op: 'close', sid });
        }
        return closing;
      },
    };
    sessions.set(sid, hooks);
    refresh();
    return session;
  }

  return {
    openSession,
    async stats(o = {}) {
      const s = (await requestStats(null, o.resetIntervals ?? false)) as EngineStats | null;
      return s ?? { ...EMPTY_STATS, sessions: 0 };
    },
    async close() {
      if (closed) return;
      closed = true;
      const gone = new MediaError('engine_unavailable', 'media engine is closed');
      for (const o of opening.values()) o.reject(gone);
      opening.clear();
      const w = worker;
      if (!w) return;
      // Sessions close in the worker (sockets released); one that does not answer in time is dropped.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((r) => (timer = setTimeout(r, 1000)));
      await Promise.race([Promise.all([...sessions.values()].map((s) => s.close())), timeout]);
      clearTimeout(timer);
      for (const s of [...sessions.values()]) s.fail();
      worker = null;
      ready = null;
      for (const r of statsRequests.values()) r(null);
      statsRequests.clear();
      await w.terminate();
    },
  };
}
