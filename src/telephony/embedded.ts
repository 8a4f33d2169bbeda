import { availableParallelism } from 'node:os';
import type { Logger } from '../log.js';
import type { InbandDtmfMode } from './media/inband-dtmf.js';
import type { Call, CallEngine, CallRecord, CollectOptions, CollectResult, DialRequest, DialResult, Digit, IncomingCall, PlayOptions, PlayResult, ScreenOptions, ScreenResult } from './engine.js';
import { MEDIA_TIMEOUT } from '../domain/call.js';
import { buildOffer, type Dialog, type DigestCredentials, type InviteResult, type SipUserAgent, type Timers } from './sip/index.js';
import type { SipTlsOptions } from './sip/transports.js';
import { startSipWorker, type IncomingInvite } from './sip/worker/remote-ua.js';
import { createMediaPool } from './media/media-pool.js';
import { type MediaEngine, type MediaSession, type RemoteMedia } from './media/session.js';
import type { SessionMedia } from './sip/sdp.js';
import { DigitCollector } from './media/collector.js';

export interface EmbeddedEngineOptions {
  sip: {
    bindHost: string;
    bindPort: number;
    outboundProxy: string | null;
    requestUri: string;
    from: string;
    displayName: string;
    username: string | null;
    password: string | null;
    ringTimeoutMs: number;
    /** Session-Expires our INVITEs ask for (RFC 4028); absent = 1800. */
    sessionExpiresSeconds?: number;
    /** More "host:port" signalling addresses a call's requests may come from (issue 10, D2). */
    trustedSources?: readonly string[];
    /** DNS servers for RFC 3263 lookups of the trunk ("ip", "ip:port"); empty/absent = the system's. */
    dnsServers?: readonly string[];
    /** `telephony.sip.tls`: CA, our certificate, TLS listener port. */
    tls?: SipTlsOptions;
    /** SO_RCVBUF of the SIP UDP socket (config `telephony.sip.receiveBufferBytes`); absent = the system default. */
    receiveBufferBytes?: number;
  };
  /** Answer calls to us (config `selfService.enabled`): onIncomingCall. Absent/false: they are declined (603). */
  inbound?: boolean;
  rtp: {
    bindHost: string; portMin: number; portMax: number; inbandDtmf?: InbandDtmfMode;
    /** Latch to where the phone's RTP comes from (NAT); config default true, absent = false (the SDP address only). */
    symmetric?: boolean;
    /** No RTP/RTCP from the phone for this long ends the call as failed/media_timeout; 0 or absent = off. */
    inactivityTimeoutSeconds?: number;
    /** RTCP's minimum report interval; 5000 by default (tests use a short one; not a config key). */
    rtcpIntervalMs?: number;
    /** SCHED_FIFO priority of the media threads (config `telephony.rtp.realtimePriority`); 0 or absent = none. */
    realtimePriority?: number;
    /** Media worker threads the streams are spread over (config `telephony.rtp.workers`, 0 = one per CPU, at most 4); absent = 1. */
    workers?: number;
  };
  log: Logger;
  timers?: Partial<Timers>;
}

/** `sip:{e164}@trunk;user=phone` → the request-URI for one enrolled number. */
export function requestUriFor(template: string, e164: string): string {
  return template.replaceAll('{e164}', e164).replaceAll('{number}', e164.replace(/^\+/, ''));
}

/**
 * The default engine: callpay's own SIP user agent in one worker thread (sip/worker/: sockets,
 * transactions, dialogs, the dialer) and RTP media in another (media/media-worker.ts), so neither
 * signalling nor audio pacing waits while the main thread serves HTTP and the database. This thread
 * keeps the call logic: what to play, digits collected, the call record. Needs nothing installed.
 */
export async function createEmbeddedEngine(opts: EmbeddedEngineOptions): Promise<CallEngine & { sipPort: number }> {
  const ua = await startSipWorker({
    bindHost: opts.sip.bindHost, bindPort: opts.sip.bindPort, outboundProxy: opts.sip.outboundProxy, log: opts.log,
    trustedSources: opts.sip.trustedSources ?? [],
    dnsServers: opts.sip.dnsServers ?? [],
    tls: opts.sip.tls ?? null,
    inbound: opts.inbound ?? false,
    ...(opts.sip.sessionExpiresSeconds === undefined ? {} : { sessionExpiresSeconds: opts.sip.sessionExpiresSeconds }),
    ...(opts.sip.receiveBufferBytes === undefined ? {} : { receiveBufferBytes: opts.sip.receiveBufferBytes }),
    ...(opts.timers ? { timers: opts.timers } : {}),
  });
  const { inactivityTimeoutSeconds, workers, ...rtp } = opts.rtp;
  const media = createMediaPool({
    ...rtp, inactivityTimeoutMs: (inactivityTimeoutSeconds ?? 0) * 1000, log: opts.log,
    workers: workers === 0 ? Math.min(4, availableParallelism()) : (workers ?? 1),
  });
  const credentials: DigestCredentials | null =
    opts.sip.username && opts.sip.password ? { username: opts.sip.username, password: opts.sip.password } : null;
  return {
    sipPort: ua.local.port,
    healthy: () => ua.healthy(),
    mediaStats: () => media.stats({ resetIntervals: true }),
    async dial(req) {
      return dial(ua, media, opts, credentials, req);
    },
    onIncomingCall(handler) {
      ua.onIncoming((invite) => handler(incomingCall(invite, media, opts.rtp.bindHost)));
    },
    async close() {
      await ua.close();
      await media.close();
    },
  };
}

async function dial(ua: SipUserAgent, media: MediaEngine, opts: EmbeddedEngineOptions, credentials: DigestCredentials | null, req: DialRequest): Promise<DialResult> {
  const startedAt = new Date().toISOString();
  const session = await media.openSession({ log: req.log });
  // The INVITE's own abort: the caller's, or ours when a ringing call shows it was forwarded.
  const own = new AbortController();
  const follow = () => own.abort();
  if (req.signal?.aborted) own.abort();
  else req.signal?.addEventListener('abort', follow, { once: true });
  const refuseForwarded = req.forwarding === 'refuse';
  let forwardedWhileRinging: readonly string[] = [];
  const ringing = req.onRinging ? onceRinging(req.onRinging) : null;
  let result: InviteResult;
  try {
    result = await ua.invite({
      requestUri: requestUriFor(opts.sip.requestUri, req.number),
      from: opts.sip.from,
      displayName: opts.sip.displayName,
      sdpOffer: buildOffer({ host: opts.rtp.bindHost, port: session.localPort }),
      credentials,
      ringTimeoutMs: req.ringTimeoutMs ?? opts.sip.ringTimeoutMs,
      signal: own.signal,
      onProvisional: (p) => {
        if (refuseForwarded && p.forwarded.length > 0) {
          if (forwardedWhileRinging.length === 0) req.log.info({ forwarded: p.forwarded }, 'the call is being forwarded: cancelled (risk.sipForwarding is refuse)');
          forwardedWhileRinging = p.forwarded;
          return own.abort();
        }
        ringing?.(p);
      },
      log: req.log,
    });
  } catch (e) {
    await session.close();
    throw e;
  } finally {
    req.signal?.removeEventListener('abort', follow); // once answered, EmbeddedCall hangs up on abort
  }
  if (result.kind !== 'answered') {
    await session.close();
    const forwarded = forwardedWhileRinging.length > 0 && !req.signal?.aborted;
    const kind = forwarded ? 'forwarded' : result.kind;
    const reason = forwarded ? forwardedReason(forwardedWhileRinging) : result.reason;
    const record: CallRecord = {
      callId: result.callId, startedAt, answeredAt: null, endedAt: new Date().toISOString(), outcome: kind,
      sipStatus: result.sipStatus, reason, digitCount: 0,
    };
    return { kind, sipStatus: result.sipStatus, reason, record };
  }
  if (refuseForwarded && result.forwarded.length > 0) {
    // Signs only in the answer: hang up before a word is said.
    req.log.info({ forwarded: result.forwarded }, 'answered by a forwarded call: hung up before anything was said (risk.sipForwarding is refuse)');
    const answeredAt = new Date().toISOString();
    await result.dialog.bye();
    await session.close();
    const reason = forwardedReason(result.forwarded);
    const record: CallRecord = { callId: result.callId, startedAt, answeredAt, endedAt: new Date().toISOString(), outcome: 'forwarded', sipStatus: result.status, reason, digitCount: 0 };
    return { kind: 'forwarded', sipStatus: result.status, reason, record };
  }
  if (result.forwarded.length > 0) req.log.info({ forwarded: result.forwarded }, 'answered by a forwarded call (risk.sipForwarding is allow)');
  await session.start(remoteMedia(result.media));
  return { kind: 'answered', call: new EmbeddedCall(result.callId, result.dialog, session, req, startedAt) };
}

const REFUSALS: Record<Parameters<IncomingCall['reject']>[0], [number, string]> = {
  busy: [486, 'Busy Here'],
  forbidden: [403, 'Forbidden'],
  unavailable: [480, 'Temporarily Unavailable'],
};

/** An inbound call: media opened only when the application answers; the 200 carries its address. */
function incomingCall(invite: IncomingInvite, media: MediaEngine, rtpHost: string): IncomingCall {
  return {
    id: invite.callId,
    caller: { from: invite.caller.fromUser, asserted: invite.caller.assertedUser, trustedSource: invite.caller.trustedSource },
    async answer(log) {
      const startedAt = new Date().toISOString();
      const session = await media.openSession({ log });
      const accepted = await invite.accept({ host: rtpHost, port: session.localPort });
      if (!accepted.ok) {
        log.info({ reason: accepted.reason }, 'inbound call not answered');
        await session.close();
        return null;
      }
      await session.start(remoteMedia(accepted.media));
      return new EmbeddedCall(invite.callId, accepted.dialog, session, { log }, startedAt);
    },
    reject(reason) {
      const [status, phrase] = REFUSALS[reason];
      invite.reject(status, phrase);
    },
  };
}

function forwardedReason(signs: readonly string[]): string {
  return `call forwarded (${signs.join(', ')})`;
}

/** The media engine's view of what SIP negotiated (the answer, or a re-INVITE). */
function remoteMedia(m: SessionMedia): RemoteMedia {
  return {
    host: m.remoteHost, port: m.remotePort, codec: m.codec, payloadType: m.payloadType, telephoneEventPt: m.telephoneEventPt, send: m.send,
    receive: m.receive ?? true, rtcpMux: m.rtcpMux ?? false, rtcp: m.rtcp ?? null,
  };
}

function onceRinging(cb: () => void): (p: { status: number }) => void {
  let rang = false;
  return (p) => {
    if (rang || (p.status !== 180 && p.status !== 183)) return;
    rang = true;
    cb();
  };
}

/** One answered call: digits from RTP and SIP INFO feed one collector; BYE from either side ends it; re-INVITEs move its media. */
class EmbeddedCall implements Call {
  readonly log: Logger;
  readonly ended: Promise<CallRecord>;
  private readonly collector = new DigitCollector();
  private readonly rec: CallRecord;
  private over = false;

  constructor(
    readonly id: string,
    private readonly dialog: Dialog,
    private readonly session: MediaSession,
    req: Pick<DialRequest, 'log' | 'signal'>,
    startedAt: string,
  ) {
    this.log = req.log.child({ callId: id });
    this.rec = { callId: id, startedAt, answeredAt: new Date().toISOString(), endedAt: null, outcome: 'answered', sipStatus: 200, reason: null, digitCount: 0 };
    const onDigit = (digit: Digit) => {
      this.rec.digitCount += 1;
      this.collector.push(digit);
    };
    session.onDigit(onDigit);
    dialog.onDtmfInfo((digit) => {
      onDigit(digit);
      session.bargeIn();
    });
    // A re-INVITE (hold, resume, new address or codecs): media follows it; digits keep coming either way.
    dialog.onSessionUpdate((m) => {
      this.session
        .start(remoteMedia(m))
        .catch((err: unknown) => this.log.warn({ err }, 'media not updated after a re-INVITE'));
    });
    // A phone that stopped sending (dead line, lost NAT mapping) ends the call: BYE, and the CDR says why.
    session.onMediaTimeout((silentMs) => {
      if (this.over) return;
      this.log.warn({ silentMs }, 'no media from the phone: ending the call (media_timeout)');
      this.rec.outcome = 'failed';
      this.rec.reason = MEDIA_TIMEOUT;
      void this.hangup();
    });
    this.ended = dialog.ended.then(async (by) => {
      this.over = true;
      this.collector.hangUp();
      await this.session.close();
      this.rec.endedAt = new Date().toISOString();
      if (by === 'remote' && this.rec.reason !== MEDIA_TIMEOUT) {
        this.rec.outcome = 'hung_up';
        this.rec.reason = 'BYE from the phone';
      }
      this.log.info({ endedBy: by, digits: this.rec.digitCount }, 'call ended');
      return { ...this.rec };
    });
    // An abort that came before the answer has already fired: hang up now, not never.
    if (req.signal?.aborted) void this.hangup();
    else req.signal?.addEventListener('abort', () => void this.hangup(), { once: true });
  }

  async play(clips: readonly string[], opts: PlayOptions = { bargeIn: false }): Promise<PlayResult> {
    if (this.over) return { kind: 'hung_up' };
    // Digits already keyed (during an earlier prompt) barge in before this one even starts.
    if (opts.bargeIn && this.collector.buffered > 0) return { kind: 'interrupted', by: 'digit' };
    const result = await this.session.play(clips, opts);
    if (this.over) return { kind: 'hung_up' };
    return result.kind === 'stopped' ? { kind: 'completed' } : result;
  }

  /** The media worker listens to the greeting's energy (media/amd.ts); nothing is sent but silence meanwhile. */
  screen(opts: ScreenOptions): Promise<ScreenResult> {
    if (this.over) return Promise.resolve({ verdict: 'unknown', reason: 'hung_up', elapsedMs: 0, words: 0 });
    return this.session.screen(opts);
  }

  collect(opts: CollectOptions): Promise<CollectResult> {
    if (this.over) return Promise.resolve({ kind: 'hung_up' });
    return this.collector.collect(opts);
  }

  async hangup(): Promise<void> {
    if (this.over) return;
    await this.dialog.bye();
    await this.ended;
  }

  record(): CallRecord {
    return { ...this.rec };
  }
}
