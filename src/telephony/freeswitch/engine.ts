import { randomUUID } from 'node:crypto';
import type { Logger } from '../../log.js';
import type { Call, CallEngine, CallRecord, CollectOptions, CollectResult, DialRequest, DialResult, Digit, NotAnswered, PlayOptions, PlayResult } from '../engine.js';
import { DigitCollector } from '../media/collector.js';
import type { EslEvent } from './esl.js';
import { EslLink, type ChannelOwner } from './link.js';
import { fillDialString, originateCommand, outcomeOfCause, playbackArg, sipStatusOfCause } from './originate.js';

export interface FreeswitchEngineOptions {
  host: string;
  port: number;
  password: string;
  /** e.g. `sofia/gateway/carrier/{e164}`; {e164} with "+", {number} without. */
  dialString: string;
  callerIdNumber: string;
  ignoreEarlyMedia: boolean;
  ringTimeoutMs: number;
  /** A clip's path on the FreeSWITCH host (identity when both run on one host). */
  promptPath: (localPath: string) => string;
  /** Turns on FreeSWITCH's in-band DTMF detector (`start_dtmf`) on every answered call. */
  inbandDtmf: boolean;
  parkTimeoutSeconds: number;
  reconnect: { initialMs: number; maxMs: number };
  connectTimeoutMs?: number;
  log: Logger;
}

export interface FreeswitchEngine extends CallEngine {
  /** Whether the event socket is up (readiness). */
  connected(): boolean;
  whenConnected(timeoutMs: number): Promise<boolean>;
}

const DIGITS = new Set('0123456789*#ABCD');
const INTERRUPTED = 'interrupted: FreeSWITCH event socket lost';

/**
 * CallEngine over the carrier's FreeSWITCH: `bgapi originate ... &park()`, then `playback`, `DTMF`
 * events, `uuid_break` and `uuid_kill` on one inbound event socket (drachtio-modesl).
 */
export async function createFreeswitchEngine(opts: FreeswitchEngineOptions): Promise<FreeswitchEngine> {
  const link = new EslLink({
    host: opts.host, port: opts.port, password: opts.password, reconnect: opts.reconnect,
    connectTimeoutMs: opts.connectTimeoutMs ?? 5000, log: opts.log,
  });
  await link.start();
  return {
    dial: (req) => dial(link, opts, req),
    connected: () => link.connected,
    healthy: () => link.connected,
    whenConnected: (ms) => link.whenConnected(ms),
    async close() {
      link.close();
    },
  };
}

function notAnsweredResult(callId: string, startedAt: string, kind: NotAnswered, reason: string, sipStatus: number | null = null): DialResult {
  const record: CallRecord = { callId, startedAt, answeredAt: null, endedAt: new Date().toISOString(), outcome: kind, sipStatus, reason, digitCount: 0 };
  return { kind, sipStatus, reason, record };
}

function dial(link: EslLink, opts: FreeswitchEngineOptions, req: DialRequest): Promise<DialResult> {
  const uuid = randomUUID();
  const startedAt = new Date().toISOString();
  const log = req.log.child({ callId: uuid });
  const filled = fillDialString(opts.dialString, req.number);
  if (!filled.ok) {
    log.warn({ reason: filled.reason }, 'dial refused');
    return Promise.resolve(notAnsweredResult(uuid, startedAt, 'failed', filled.reason));
  }
  if (!link.connected) return Promise.resolve(notAnsweredResult(uuid, startedAt, 'failed', 'FreeSWITCH event socket is down'));
  const ringTimeoutMs = req.ringTimeoutMs ?? opts.ringTimeoutMs;
  const jobUuid = randomUUID();

  return new Promise<DialResult>((resolve) => {
    let settled = false;
    let rang = false;
    const settle = (r: DialResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      req.signal?.removeEventListener('abort', onAbort);
      if (r.kind !== 'answered') {
        link.release(uuid);
        log.info({ outcome: r.kind, reason: r.reason }, 'call not answered');
      }
      resolve(r);
    };
    const notAnswered = (cause: string) => settle(notAnsweredResult(uuid, startedAt, outcomeOfCause(cause), cause, sipStatusOfCause(cause)));
    const kill = (cause: string) => void link.api(`uuid_kill ${uuid} ${cause}`).catch(() => undefined);
    const onAbort = () => {
      kill('ORIGINATOR_CANCEL');
      notAnswered('ORIGINATOR_CANCEL');
    };
    // FreeSWITCH ends the ring itself (originate_timeout); this only bounds a FreeSWITCH that says nothing.
    const guard = setTimeout(() => {
      kill('ALLOTTED_TIMEOUT');
      settle(notAnsweredResult(uuid, startedAt, 'failed', 'no answer and no result from FreeSWITCH'));
    }, ringTimeoutMs + 15_000);

    const owner: ChannelOwner = {
      onEvent(e) {
        switch (e.name) {
          case 'CHANNEL_PROGRESS':
          case 'CHANNEL_PROGRESS_MEDIA':
            if (!rang) {
              rang = true;
              req.onRinging?.();
            }
            return;
          case 'CHANNEL_ANSWER': {
            if (settled) return;
            const call = new FreeswitchCall(uuid, link, opts, log, startedAt);
            link.own(uuid, call);
            if (req.signal?.aborted) void call.hangup();
            else req.signal?.addEventListener('abort', () => void call.hangup(), { once: true });
            settled = true;
            clearTimeout(guard);
            req.signal?.removeEventListener('abort', onAbort);
            log.info('call answered');
            void call.start().then(() => resolve({ kind: 'answered', call }));
            return;
          }
          case 'CHANNEL_HANGUP':
            notAnswered(e.header('Hangup-Cause') ?? 'UNKNOWN');
            return;
          case 'BACKGROUND_JOB': {
            // "+OK <uuid>" after the answer, or "-ERR CAUSE"; it may come after the channel's own events.
            const m = /^-ERR\s+(\S+)/.exec(e.body.trim());
            if (m) notAnswered(m[1]!);
            return;
          }
          default:
        }
      },
      onDrop() {
        settle(notAnsweredResult(uuid, startedAt, 'failed', INTERRUPTED));
        link.orphan(uuid);
      },
    };
    link.own(uuid, owner, jobUuid);
    if (req.signal?.aborted) return onAbort();
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const command = originateCommand(
      { uuid, ignoreEarlyMedia: opts.ignoreEarlyMedia, ringTimeoutMs, callerIdNumber: opts.callerIdNumber, parkTimeoutSeconds: opts.parkTimeoutSeconds },
      filled.dialString,
    );
    link.bgapi(command, jobUuid).then(
      (reply) => {
        if (!reply.startsWith('+OK')) settle(notAnsweredResult(uuid, startedAt, 'failed', `originate refused: ${reply}`));
      },
      (err: unknown) => settle(notAnsweredResult(uuid, startedAt, 'failed', `originate not sent: ${(err as Error).message}`)),
    );
  });
}

interface Playing {
  eventUuid: string;
  bargeIn: boolean;
  broke: boolean;
  resolve(r: PlayResult): void;
}

/** One answered, parked channel: playback by sendmsg, digits from DTMF events into callpay's own collector. */
class FreeswitchCall implements Call, ChannelOwner {
  readonly log: Logger;
  readonly ended: Promise<CallRecord>;
  private readonly collector = new DigitCollector();
  private readonly rec: CallRecord;
  private playing: Playing | null = null;
  private over = false;
  private killing = false;
  private endWith!: (outcome: CallRecord['outcome'], reason: string | null) => void;

  constructor(
    readonly id: string,
    private readonly link: EslLink,
    private readonly opts: FreeswitchEngineOptions,
    log: Logger,
    startedAt: string,
  ) {
    this.log = log;
    this.rec = { callId: id, startedAt, answeredAt: new Date().toISOString(), endedAt: null, outcome: 'answered', sipStatus: 200, reason: null, digitCount: 0 };
    this.ended = new Promise((resolve) => {
      this.endWith = (outcome, reason) => {
        if (this.over) return;
        this.over = true;
        this.link.release(this.id);
        this.collector.hangUp();
        this.playing?.resolve({ kind: 'hung_up' });
        this.playing = null;
        this.rec.endedAt = new Date().toISOString();
        this.rec.outcome = outcome;
        this.rec.reason = reason;
        this.log.info({ outcome, reason, digits: this.rec.digitCount }, 'call ended');
        resolve({ ...this.rec });
      };
    });
  }

  /** In-band detection for trunks whose digits arrive as tones; RFC 4733 and INFO need nothing. */
  async start(): Promise<void> {
    if (!this.opts.inbandDtmf || this.over) return;
    try {
      const reply = await this.link.execute(this.id, 'start_dtmf', '', randomUUID());
      if (!reply.startsWith('+OK')) this.log.warn({ reply }, 'start_dtmf refused');
    } catch (err) {
      this.log.warn({ err }, 'start_dtmf not sent');
    }
  }

  onEvent(e: EslEvent): void {
    switch (e.name) {
      case 'DTMF': {
        const digit = e.header('DTMF-Digit') ?? '';
        if (!DIGITS.has(digit) || digit.length !== 1) return;
        this.rec.digitCount += 1;
        this.collector.push(digit as Digit);
        const p = this.playing;
        if (p && p.bargeIn && !p.broke) {
          p.broke = true;
          this.breakPlayback();
        }
        return;
      }
      case 'CHANNEL_EXECUTE':
        // A digit keyed before FreeSWITCH started the clip: break again now that there is one to break.
        if (this.playing?.broke && e.header('Application-UUID') === this.playing.eventUuid) this.breakPlayback();
        return;
      case 'CHANNEL_EXECUTE_COMPLETE': {
        const p = this.playing;
        if (!p || e.header('Application-UUID') !== p.eventUuid) return;
        this.playing = null;
        p.resolve(p.broke ? { kind: 'interrupted', by: 'digit' } : { kind: 'completed' });
        return;
      }
      case 'CHANNEL_HANGUP': {
        const cause = e.header('Hangup-Cause') ?? 'UNKNOWN';
        if (this.killing) this.endWith('answered', null);
        else this.endWith('hung_up', cause === 'NORMAL_CLEARING' ? 'hang-up from the phone' : cause);
        return;
      }
      default:
    }
  }

  onDrop(): void {
    this.link.orphan(this.id);
    this.endWith('failed', INTERRUPTED);
  }

  private breakPlayback(): void {
    this.link.api(`uuid_break ${this.id} all`).catch((err: unknown) => this.log.warn({ err }, 'uuid_break failed'));
  }

  async play(clips: readonly string[], opts: PlayOptions = { bargeIn: false }): Promise<PlayResult> {
    if (this.over) return { kind: 'hung_up' };
    if (opts.bargeIn && this.collector.buffered > 0) return { kind: 'interrupted', by: 'digit' };
    if (this.playing) throw new Error('play: a playback is already running');
    const paths = clips.map((c) => this.opts.promptPath(c));
    if (paths.some((p) => /[\r\n!]/.test(p))) throw new Error('play: a clip path contains a line break or "!"');
    const eventUuid = randomUUID();
    const done = new Promise<PlayResult>((resolve) => {
      this.playing = { eventUuid, bargeIn: opts.bargeIn, broke: false, resolve };
    });
    try {
      const reply = await this.link.execute(this.id, 'playback', playbackArg(paths), eventUuid);
      if (!reply.startsWith('+OK')) {
        this.log.warn({ reply }, 'playback refused');
        this.playing = null;
        return this.over ? { kind: 'hung_up' } : { kind: 'completed' };
      }
    } catch (err) {
      // The socket dropped (the call has ended as interrupted) or FreeSWITCH did not reply.
      if (!this.over) this.log.warn({ err }, 'playback not sent');
      this.playing = null;
      return this.over ? { kind: 'hung_up' } : { kind: 'completed' };
    }
    const r = await done;
    return this.over ? { kind: 'hung_up' } : r;
  }

  collect(opts: CollectOptions): Promise<CollectResult> {
    if (this.over) return Promise.resolve({ kind: 'hung_up' });
    return this.collector.collect(opts);
  }

  async hangup(): Promise<void> {
    if (this.over) return;
    this.killing = true;
    try {
      const reply = await this.link.api(`uuid_kill ${this.id} NORMAL_CLEARING`);
      if (!reply.startsWith('+OK')) this.endWith('answered', null); // already gone
    } catch {
      // Socket down: onDrop ends the call; park_timeout tears the channel down.
    }
    const bound = new Promise<void>((r) => setTimeout(r, 5000).unref());
    await Promise.race([this.ended.then(() => undefined), bound]);
    this.endWith('answered', null);
  }

  record(): CallRecord {
    return { ...this.rec };
  }
}
