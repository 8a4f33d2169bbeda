import type { Logger } from '../log.js';
import type { InbandDtmfMode } from './media/inband-dtmf.js';
import type { Call, CallEngine, CallRecord, CollectOptions, CollectResult, DialRequest, DialResult, Digit, PlayOptions, PlayResult } from './engine.js';
import { createSipUserAgent, buildOffer, type Dialog, type DigestCredentials, type InviteResult, type SipUserAgent, type Timers } from './sip/index.js';
import { createMediaEngine, type MediaEngine, type MediaSession } from './media/session.js';
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
    /** More "host:port" signalling addresses a call's requests may come from (issue 10, D2). */
    trustedSources?: readonly string[];
  };
  rtp: { bindHost: string; portMin: number; portMax: number; inbandDtmf?: InbandDtmfMode };
  log: Logger;
  timers?: Partial<Timers>;
}

/** `sip:{e164}@trunk;user=phone` → the request-URI for one enrolled number. */
export function requestUriFor(template: string, e164: string): string {
  return template.replaceAll('{e164}', e164).replaceAll('{number}', e164.replace(/^\+/, ''));
}

/**
 * The default engine: callpay's own SIP user agent (signalling on the main thread) and RTP media in a
 * worker thread, so audio pacing holds while the daemon is busy. Needs nothing installed.
 */
export async function createEmbeddedEngine(opts: EmbeddedEngineOptions): Promise<CallEngine & { sipPort: number }> {
  const ua = await createSipUserAgent({
    bindHost: opts.sip.bindHost, bindPort: opts.sip.bindPort, outboundProxy: opts.sip.outboundProxy, log: opts.log,
    trustedSources: opts.sip.trustedSources ?? [],
    ...(opts.timers ? { timers: opts.timers } : {}),
  });
  const media = createMediaEngine({ ...opts.rtp, log: opts.log });
  const credentials: DigestCredentials | null =
    opts.sip.username && opts.sip.password ? { username: opts.sip.username, password: opts.sip.password } : null;
  return {
    sipPort: ua.local.port,
    async dial(req) {
      return dial(ua, media, opts, credentials, req);
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
  let result: InviteResult;
  try {
    result = await ua.invite({
      requestUri: requestUriFor(opts.sip.requestUri, req.number),
      from: opts.sip.from,
      displayName: opts.sip.displayName,
      sdpOffer: buildOffer({ host: opts.rtp.bindHost, port: session.localPort }),
      credentials,
      ringTimeoutMs: req.ringTimeoutMs ?? opts.sip.ringTimeoutMs,
      ...(req.signal ? { signal: req.signal } : {}),
      ...(req.onRinging ? { onProvisional: onceRinging(req.onRinging) } : {}),
      log: req.log,
    });
  } catch (e) {
    await session.close();
    throw e;
  }
  if (result.kind !== 'answered') {
    await session.close();
    const record: CallRecord = {
      callId: result.callId, startedAt, answeredAt: null, endedAt: new Date().toISOString(), outcome: result.kind,
      sipStatus: result.sipStatus, reason: result.reason, digitCount: 0,
    };
    return { kind: result.kind, sipStatus: result.sipStatus, reason: result.reason, record };
  }
  await session.start({
    host: result.media.remoteHost, port: result.media.remotePort, codec: result.media.codec,
    payloadType: result.media.payloadType, telephoneEventPt: result.media.telephoneEventPt, send: result.media.send,
  });
  return { kind: 'answered', call: new EmbeddedCall(result.callId, result.dialog, session, req, startedAt) };
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
    req: DialRequest,
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
        .start({ host: m.remoteHost, port: m.remotePort, codec: m.codec, payloadType: m.payloadType, telephoneEventPt: m.telephoneEventPt, send: m.send })
        .catch((err: unknown) => this.log.warn({ err }, 'media not updated after a re-INVITE'));
    });
    this.ended = dialog.ended.then(async (by) => {
      this.over = true;
      this.collector.hangUp();
      await this.session.close();
      this.rec.endedAt = new Date().toISOString();
      if (by === 'remote') {
        this.rec.outcome = 'hung_up';
        this.rec.reason = 'BYE from the phone';
      }
      this.log.info({ endedBy: by, digits: this.rec.digitCount }, 'call ended');
      return { ...this.rec };
    });
    req.signal?.addEventListener('abort', () => void this.hangup(), { once: true });
  }

  async play(clips: readonly string[], opts: PlayOptions = { bargeIn: false }): Promise<PlayResult> {
    if (this.over) return { kind: 'hung_up' };
    // Digits already keyed (during an earlier prompt) barge in before this one even starts.
    if (opts.bargeIn && this.collector.buffered > 0) return { kind: 'interrupted', by: 'digit' };
    const result = await this.session.play(clips, opts);
    if (this.over) return { kind: 'hung_up' };
    return result.kind === 'stopped' ? { kind: 'completed' } : result;
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
