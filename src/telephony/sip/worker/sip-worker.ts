// The SIP worker thread: callpay's SIP user agent (sockets, transactions, dialogs, the dialer) runs
// here, so a busy main thread (HTTP intake, the database) never delays a response, a retransmission
// or an ACK, and the socket is read as fast as datagrams come. remote-ua.ts is the main thread's side.
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger, type Logger } from '../../../log.js';
import { raiseThreadPriority } from '../../thread-priority.js';
import type { Dialog } from '../dialog.js';
import type { InviteRequest } from '../invite.js';
import { createSipUserAgent, type SipUserAgent } from '../ua.js';
import type { InboundInvite } from '../uas.js';
import type { FromSipWorker, SipWorkerData, ToSipWorker, WireInvite, WireInviteResult } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('sip-worker.ts runs as a worker thread');
const data = workerData as SipWorkerData;

function post(m: FromSipWorker): void {
  port!.postMessage(m);
}

/** Log lines go to the main thread, which writes them where its own go (and in order with them). */
const root: Logger = createLogger({ level: data.logLevel, destination: { write: (line: string) => post({ ev: 'log', line }) } });
const log = root.child(withoutBase(data.logBindings));

function withoutBase(bindings: Record<string, unknown>): Record<string, unknown> {
  const { app: _app, ...rest } = bindings;
  return rest;
}

// Above the main thread (HTTP, the database), below the media worker (nice -10), which keeps 20 ms time.
for (const why of raiseThreadPriority({ nice: -5 }).notDone) log.debug({ why }, 'SIP thread priority not raised');

const aborts = new Map<number, AbortController>();
const dialogs = new Map<number, Dialog>();
/** Inbound calls awaiting the main thread's answer; their ids are negative, so never an outgoing call's. */
const inbound = new Map<number, InboundInvite>();
let nextInboundId = -1;
let ua: SipUserAgent;
try {
  ua = await createSipUserAgent({ ...data.options, log });
  ua.onInbound?.((invite) => {
    const id = nextInboundId--;
    inbound.set(id, invite);
    invite.onCancel(() => {
      inbound.delete(id);
      post({ ev: 'incoming_cancelled', id });
    });
    post({ ev: 'incoming', id, callId: invite.callId, caller: invite.caller, offer: invite.offer });
  });
  post({ ev: 'ready', local: ua.local, tlsPort: ua.tlsPort, receiveBufferBytes: ua.receiveBufferBytes });
} catch (err) {
  post({ ev: 'start_failed', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}

async function invite(id: number, wire: WireInvite, aborted: boolean): Promise<void> {
  const abort = new AbortController();
  if (aborted) abort.abort();
  aborts.set(id, abort);
  const { logBindings, provisional, ...rest } = wire;
  const req: InviteRequest = {
    ...rest,
    log: root.child(withoutBase(logBindings)),
    signal: abort.signal,
    ...(provisional ? { onProvisional: (p) => post({ ev: 'provisional', id, status: p.status, reason: p.reason, sdp: p.sdp, forwarded: p.forwarded }) } : {}),
  };
  try {
    const result = await ua.invite(req);
    if (result.kind === 'answered') {
      const { dialog, ...rest } = result;
      adopt(id, dialog);
      post({ ev: 'result', id, result: rest satisfies WireInviteResult });
    } else {
      post({ ev: 'result', id, result });
    }
  } catch (err) {
    post({ ev: 'invite_failed', id, message: err instanceof Error ? err.message : String(err) });
  } finally {
    aborts.delete(id);
  }
}

/** The answered call's dialog stays here; its events cross as messages under the call's id. */
function adopt(id: number, dialog: Dialog): void {
  dialogs.set(id, dialog);
  dialog.onDtmfInfo((digit, durationMs) => post({ ev: 'dtmf', id, digit, durationMs }));
  dialog.onRemoteBye(() => post({ ev: 'remote_bye', id }));
  dialog.onSessionUpdate((media) => post({ ev: 'update', id, media }));
  void dialog.ended.then((by) => {
    dialogs.delete(id);
    post({ ev: 'ended', id, by });
  });
}

let closing = false;
port.on('message', (m: ToSipWorker) => {
  switch (m.op) {
    case 'invite':
      void invite(m.id, m.req, m.aborted);
      return;
    case 'abort':
      aborts.get(m.id)?.abort();
      return;
    case 'bye': {
      const dialog = dialogs.get(m.id);
      if (!dialog) return post({ ev: 'bye_done', id: m.id });
      void dialog.bye().finally(() => post({ ev: 'bye_done', id: m.id }));
      return;
    }
    case 'options':
      void ua.options(m.requestUri, m.timeoutMs).then(
        (result) => post({ ev: 'options', req: m.req, result }),
        (err: unknown) => post({ ev: 'options', req: m.req, result: { kind: 'unreachable', reason: err instanceof Error ? err.message : String(err), tried: [] } }),
      );
      return;
    case 'accept': {
      const invite = inbound.get(m.id);
      inbound.delete(m.id);
      const result = invite ? invite.accept({ host: m.host, port: m.port }) : { ok: false as const, reason: 'no such inbound call' };
      if (!result.ok) return post({ ev: 'accept_failed', id: m.id, reason: result.reason });
      post({ ev: 'accepted', id: m.id, media: result.media });
      adopt(m.id, result.dialog);
      return;
    }
    case 'reject':
      inbound.get(m.id)?.reject(m.status, m.reason);
      inbound.delete(m.id);
      return;
    case 'close':
      if (closing) return;
      closing = true;
      void ua.close().finally(() => {
        post({ ev: 'closed' });
        port.close();
      });
      return;
  }
});
