import { Worker } from 'node:worker_threads';
import { writeLogLine, type Logger } from '../../../log.js';
import type { Digit } from '../../engine.js';
import type { Dialog, EndedBy, SessionMedia } from '../dialog.js';
import type { HostPort } from '../headers.js';
import type { InviteRequest, InviteResult } from '../invite.js';
import type { OptionsResult } from '../options.js';
import type { SipUserAgent, SipUserAgentOptions } from '../ua.js';
import type { CallerInfo } from '../uas.js';
import type { FromSipWorker, SipWorkerData, ToSipWorker } from './protocol.js';

/**
 * The SIP user agent seen from the main thread: the real one (ua.ts) runs in a worker thread
 * (sip-worker.ts) with its sockets, timers, transactions and dialogs, so signalling never waits for
 * the main thread's HTTP and database work. Each INVITE and each answered call's dialog crosses as
 * messages (protocol.ts); this side keeps the promises and callbacks.
 *
 * If the worker is lost (a crash), its calls end, pending INVITEs fail, and a new worker starts on
 * the same port at once (retried with backoff); until then the engine is not healthy (/readyz).
 */
const RESPAWN_FIRST_MS = 200;

/** An inbound call seen from the main thread (uas.ts runs in the worker): accept or refuse it. */
export interface IncomingInvite {
  readonly callId: string;
  readonly caller: CallerInfo;
  readonly offer: string;
  /** Sends the 200 with our media at `local`: the dialog, or why not (the caller cancelled, the offer was unusable). */
  accept(local: { host: string; port: number }): Promise<{ ok: true; dialog: Dialog; media: SessionMedia } | { ok: false; reason: string }>;
  reject(status: number, reason: string): void;
}

export type InboundHandler = (invite: IncomingInvite) => void;
const RESPAWN_MAX_MS = 30_000;

export async function startSipWorker(opts: SipUserAgentOptions): Promise<SipUserAgent & { healthy(): boolean; onIncoming(handler: InboundHandler): void }> {
  const { log, ...options } = opts;
  const pending = new Map<number, { req: InviteRequest; resolve(r: InviteResult): void }>();
  const calls = new Map<number, RemoteDialog>();
  const optionsWaiting = new Map<number, (r: OptionsResult) => void>();
  /** Inbound calls the main thread is answering, by the worker's (negative) id. */
  const answering = new Map<number, { callId: string; offer: string; resolve(r: Awaited<ReturnType<IncomingInvite['accept']>>): void }>();
  let inboundHandler: InboundHandler | null = null;
  let nextId = 1;
  let closed = false;
  let worker: Worker;
  let ready: { local: HostPort; tlsPort: number | null; receiveBufferBytes: number | null };
  let starting: Promise<void> | null = null;
  let afterClose: (() => void) | null = null;
  let up = false;

  const send = (m: ToSipWorker) => worker.postMessage(m);

  function spawn(bindPort: number): Promise<void> {
    const data: SipWorkerData = { options: { ...options, bindPort }, logLevel: log.level, logBindings: log.bindings() };
    const w = spawnWorker(data);
    worker = w;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      w.on('message', (m: FromSipWorker) => {
        if (m.ev === 'ready') {
          started = true;
          ready = { local: m.local, tlsPort: m.tlsPort, receiveBufferBytes: m.receiveBufferBytes };
          return resolve();
        }
        if (m.ev === 'start_failed') return reject(new Error(m.message));
        dispatch(m);
      });
      w.on('error', (err) => {
        if (!started) reject(err);
        else lost(w, `crashed: ${err.message}`);
      });
      w.on('exit', (code) => {
        if (!started) reject(new Error(`SIP worker exited (${code}) before it was ready`));
        else lost(w, `exited (${code})`);
      });
    });
  }

  function lost(w: Worker, why: string): void {
    if (w !== worker) return;
    afterClose?.();
    if (closed) return;
    log.error({ why, calls: calls.size, dialing: pending.size }, 'SIP worker lost: its calls end; the next call starts a new one');
    starting = null;
    for (const p of pending.values()) p.resolve({ kind: 'failed', callId: '', sipStatus: null, reason: `SIP worker ${why}` });
    pending.clear();
    for (const d of calls.values()) d.end('local');
    calls.clear();
    for (const r of optionsWaiting.values()) r({ kind: 'unreachable', reason: `SIP worker ${why}`, tried: [] });
    optionsWaiting.clear();
    for (const a of answering.values()) a.resolve({ ok: false, reason: `SIP worker ${why}` });
    answering.clear();
    up = false;
    respawn(RESPAWN_FIRST_MS);
  }

  /** A lost worker is replaced at once (on its port), not at the next call: /readyz says not ready meanwhile. */
  function respawn(delayMs: number): void {
    setTimeout(() => {
      if (closed || up) return;
      running().then(
        () => log.warn('SIP worker restarted'),
        (err: unknown) => {
          log.error({ err, retryInMs: Math.min(delayMs * 2, RESPAWN_MAX_MS) }, 'SIP worker did not restart');
          respawn(Math.min(delayMs * 2, RESPAWN_MAX_MS));
        },
      );
    }, delayMs).unref();
  }

  function dispatch(m: FromSipWorker): void {
    switch (m.ev) {
      case 'log':
        return writeLogLine(log, m.line);
      case 'provisional':
        pending.get(m.id)?.req.onProvisional?.({ status: m.status, reason: m.reason, sdp: m.sdp, forwarded: m.forwarded });
        return;
      case 'result': {
        const p = pending.get(m.id);
        if (!p) return;
        pending.delete(m.id);
        if (m.result.kind !== 'answered') return p.resolve(m.result);
        const dialog = new RemoteDialog(m.id, m.result.callId, m.result.remoteSdp, send);
        calls.set(m.id, dialog);
        return p.resolve({ ...m.result, dialog });
      }
      case 'invite_failed': {
        const p = pending.get(m.id);
        pending.delete(m.id);
        p?.resolve({ kind: 'failed', callId: '', sipStatus: null, reason: m.message });
        return;
      }
      case 'dtmf':
        return calls.get(m.id)?.dtmf(m.digit, m.durationMs);
      case 'remote_bye':
        return calls.get(m.id)?.remoteBye();
      case 'update':
        return calls.get(m.id)?.update(m.media);
      case 'bye_done':
        return calls.get(m.id)?.byeDone();
      case 'ended':
        calls.get(m.id)?.end(m.by);
        calls.delete(m.id);
        return;
      case 'options':
        optionsWaiting.get(m.req)?.(m.result);
        optionsWaiting.delete(m.req);
        return;
      case 'incoming':
        return incoming(m.id, m.callId, m.caller, m.offer);
      case 'incoming_cancelled':
        answering.get(m.id)?.resolve({ ok: false, reason: 'caller cancelled' });
        answering.delete(m.id);
        return;
      case 'accepted': {
        const a = answering.get(m.id);
        answering.delete(m.id);
        if (!a) return;
        const dialog = new RemoteDialog(m.id, a.callId, a.offer, send);
        calls.set(m.id, dialog);
        return a.resolve({ ok: true, dialog, media: m.media });
      }
      case 'accept_failed':
        answering.get(m.id)?.resolve({ ok: false, reason: m.reason });
        answering.delete(m.id);
        return;
      case 'closed':
        afterClose?.();
        return;
      case 'ready':
      case 'start_failed':
        return;
    }
  }

  function incoming(id: number, callId: string, caller: CallerInfo, offer: string): void {
    if (!inboundHandler || closed) return send({ op: 'reject', id, status: 480, reason: 'Temporarily Unavailable' });
    let decided = false;
    inboundHandler({
      callId, caller, offer,
      accept(local) {
        if (decided) return Promise.resolve({ ok: false, reason: 'already decided' });
        decided = true;
        const result = new Promise<Awaited<ReturnType<IncomingInvite['accept']>>>((resolve) => answering.set(id, { callId, offer, resolve }));
        send({ op: 'accept', id, host: local.host, port: local.port });
        return result;
      },
      reject(status, reason) {
        if (decided) return;
        decided = true;
        send({ op: 'reject', id, status, reason });
      },
    });
  }

  async function running(): Promise<void> {
    if (up) return;
    starting ??= spawn(ready.local.port).then(
      () => {
        up = true;
        starting = null;
      },
      (err: unknown) => {
        starting = null;
        throw err;
      },
    );
    await starting;
  }

  await spawn(opts.bindPort);
  up = true;

  return {
    get local() {
      return ready.local;
    },
    get tlsPort() {
      return ready.tlsPort;
    },
    get receiveBufferBytes() {
      return ready.receiveBufferBytes;
    },
    healthy: () => up && !closed,
    onIncoming(handler) {
      inboundHandler = handler;
    },
    async invite(req) {
      if (closed) return { kind: 'failed', callId: '', sipStatus: null, reason: 'SIP user agent closed' };
      try {
        await running();
      } catch (err) {
        return { kind: 'failed', callId: '', sipStatus: null, reason: `SIP worker not started: ${err instanceof Error ? err.message : String(err)}` };
      }
      const id = nextId++;
      const { log: callLog, signal, onProvisional, ...wire } = req;
      const result = new Promise<InviteResult>((resolve) => pending.set(id, { req, resolve }));
      send({ op: 'invite', id, req: { ...wire, logBindings: callLog.bindings(), provisional: onProvisional !== undefined }, aborted: signal?.aborted ?? false });
      const onAbort = () => {
        if (pending.has(id)) send({ op: 'abort', id });
        else calls.get(id)?.bye().catch(() => {});
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const r = await result;
      if (r.kind !== 'answered') signal?.removeEventListener('abort', onAbort);
      return r;
    },
    async options(requestUri, timeoutMs) {
      if (closed) return { kind: 'unreachable', reason: 'SIP user agent closed', tried: [] };
      await running();
      const req = nextId++;
      const result = new Promise<OptionsResult>((resolve) => optionsWaiting.set(req, resolve));
      send({ op: 'options', req, requestUri, timeoutMs });
      return result;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (!up) return void (await worker.terminate());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5_000); // the worker's own close is bounded (ua.ts); this is the backstop
        afterClose = () => {
          clearTimeout(timer);
          resolve();
        };
        send({ op: 'close' });
      });
      for (const d of calls.values()) d.end('local');
      calls.clear();
      await worker.terminate();
    },
  };
}

/** Compiled code runs sip-worker.js; from src/ (vitest, tsx) the media worker's tsx bootstrap loads the .ts entry. */
function spawnWorker(data: SipWorkerData): Worker {
  if (import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('../../media/worker-boot.mjs', import.meta.url), {
      workerData: { ...data, entry: new URL('./sip-worker.ts', import.meta.url).href },
    });
  }
  return new Worker(new URL('./sip-worker.js', import.meta.url), { workerData: data });
}

/** An answered call's dialog, living in the worker; this side keeps its handlers and promises. */
class RemoteDialog implements Dialog {
  readonly ended: Promise<EndedBy>;
  private settle!: (by: EndedBy) => void;
  private over = false;
  private byeing: Promise<void> | null = null;
  private byeAnswered: (() => void) | null = null;
  private readonly dtmfHandlers: Array<(digit: Digit, durationMs: number | null) => void> = [];
  private readonly dtmfBuffer: Array<[Digit, number | null]> = [];
  private readonly byeHandlers: Array<() => void> = [];
  private readonly updateHandlers: Array<(media: SessionMedia) => void> = [];

  constructor(
    private readonly id: number,
    readonly callId: string,
    readonly remoteSdp: string,
    private readonly send: (m: ToSipWorker) => void,
  ) {
    this.ended = new Promise<EndedBy>((resolve) => (this.settle = resolve));
  }

  bye(): Promise<void> {
    if (this.over) return Promise.resolve();
    this.byeing ??= new Promise<void>((resolve) => {
      this.byeAnswered = resolve;
      this.send({ op: 'bye', id: this.id });
    });
    return this.byeing;
  }

  onDtmfInfo(cb: (digit: Digit, durationMs: number | null) => void): void {
    this.dtmfHandlers.push(cb);
    for (const [digit, ms] of this.dtmfBuffer.splice(0)) cb(digit, ms);
  }

  onRemoteBye(cb: () => void): void {
    this.byeHandlers.push(cb);
  }

  onSessionUpdate(cb: (media: SessionMedia) => void): void {
    this.updateHandlers.push(cb);
  }

  dtmf(digit: Digit, durationMs: number | null): void {
    if (this.dtmfHandlers.length === 0) this.dtmfBuffer.push([digit, durationMs]);
    for (const h of this.dtmfHandlers) h(digit, durationMs);
  }

  remoteBye(): void {
    for (const h of this.byeHandlers) h();
  }

  update(media: SessionMedia): void {
    for (const h of this.updateHandlers) h(media);
  }

  byeDone(): void {
    this.byeAnswered?.();
  }

  end(by: EndedBy): void {
    if (this.over) return;
    this.over = true;
    this.byeAnswered?.();
    this.settle(by);
  }
}
