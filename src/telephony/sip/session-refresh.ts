import type { Logger } from '../../log.js';
import type { DigestAnswerer } from './auth.js';
import { SUPPORTED, type SipCore } from './core.js';
import type { HostPort } from './headers.js';
import { serialize, type IncomingResponse, type SipRequest } from './message.js';
import { actAfterMs, after422, answerRefresh, scheduleFromResponse, type Schedule } from './session-timer.js';

/**
 * The session timer of one confirmed dialog (RFC 4028 §7.4, §9, §10). As refresher it sends a refresh
 * at half the interval: UPDATE without a body when the far end allows UPDATE (RFC 3311), else a
 * re-INVITE with our current SDP, unchanged. Otherwise it waits for the far end's refresh and, if none
 * comes by the expiry minus min(32 s, a third), the call is ended. A refresh that times out or is
 * answered 408/481 ends the call too. The dialog does the sending and the ending; this decides when.
 */

export type RefreshMethod = 'UPDATE' | 'INVITE';

export interface SessionRefreshDeps {
  log: Logger;
  /** The far end's Allow listed UPDATE. */
  useUpdate: boolean;
  /** Sends one refresh in the dialog (credentials handled there); the final response, or null on a timeout. */
  send(method: RefreshMethod, headers: Array<[string, string]>): Promise<IncomingResponse | null>;
  /** Ends the call (BYE). */
  expire(reason: string): void;
}

/** Below this, a failed refresh is not tried again before the session expires. */
const MIN_RETRY_MS = 600;

export class SessionRefresh {
  private schedule: Schedule = null;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private useUpdate: boolean;
  /** The largest Min-SE learned in the dialog (a 422, or the phone's refresh), sent with our refreshes (§7.4). */
  private minSe: number | null = null;
  /** When the session expires without a refresh. */
  private expiresAt = 0;
  private inFlight: RefreshMethod | null = null;

  constructor(private readonly deps: SessionRefreshDeps) {
    this.useUpdate = deps.useUpdate;
  }

  /** A re-INVITE of ours is pending: the phone's own re-INVITE meanwhile gets 491 (RFC 3261 §14.2). */
  get inviteInFlight(): boolean {
    return this.inFlight === 'INVITE';
  }

  /** The schedule the INVITE's 2xx set (or null: no timer until the phone asks for one). */
  start(schedule: Schedule): void {
    if (schedule) this.deps.log.info({ sessionExpires: schedule.seconds, weRefresh: schedule.weRefresh }, 'session timer running');
    this.arm(schedule);
  }

  /**
   * The phone refreshed (its re-INVITE or UPDATE, about to be answered 2xx): the headers for that 2xx,
   * and the timer restarted on what it agreed.
   */
  remoteRefresh(req: Parameters<typeof answerRefresh>[0], minSe: number | null): Array<[string, string]> {
    if (minSe !== null) this.minSe = Math.max(this.minSe ?? 0, minSe);
    const { schedule, headers } = answerRefresh(req, this.schedule);
    this.arm(schedule);
    return headers;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private arm(schedule: Schedule): void {
    clearTimeout(this.timer);
    this.schedule = schedule;
    if (!schedule || this.stopped) return;
    this.expiresAt = Date.now() + schedule.seconds * 1000;
    const wait = actAfterMs(schedule);
    this.timer = schedule.weRefresh
      ? setTimeout(() => this.fire(), wait)
      : setTimeout(() => this.deps.expire('no session refresh from the phone before expiry'), wait);
    this.timer.unref();
  }

  private fire(): void {
    this.refresh(false).catch((err: unknown) => this.deps.log.error({ err }, 'session refresh failed'));
  }

  private async refresh(retried422: boolean): Promise<void> {
    const schedule = this.schedule;
    if (!schedule || this.stopped) return;
    const method: RefreshMethod = this.useUpdate ? 'UPDATE' : 'INVITE';
    const headers: Array<[string, string]> = [
      ['session-expires', `${schedule.seconds};refresher=uac`],
      ...(this.minSe !== null ? [['min-se', String(this.minSe)] as [string, string]] : []),
      ['supported', SUPPORTED],
    ];
    this.inFlight = method;
    let res: IncomingResponse | null;
    try {
      res = await this.deps.send(method, headers);
    } finally {
      this.inFlight = null;
    }
    if (this.stopped) return;
    const status = res?.status ?? null;
    this.deps.log.debug({ method, sipStatus: status }, 'session refresh answered');
    if (!res || status === 408 || status === 481) return this.deps.expire(`session refresh ${res ? `answered ${status}` : 'not answered'}`);
    if (res.status < 300) {
      const next = scheduleFromResponse(res);
      if (!next) this.deps.log.info('session timer turned off by the far end');
      return this.arm(next);
    }
    if (res.status === 422 && !retried422) {
      const raised = after422(res, { seconds: schedule.seconds, minSe: this.minSe ?? 0 });
      if (raised) {
        this.minSe = raised.minSe;
        this.schedule = { ...schedule, seconds: raised.seconds };
        return this.refresh(true);
      }
    }
    if (method === 'UPDATE' && (res.status === 405 || res.status === 501)) {
      this.useUpdate = false; // Allow said UPDATE, the far end says otherwise: re-INVITE from now on
      return this.refresh(retried422);
    }
    this.retryOrExpire(res.status);
  }

  /** Another failure (491, 5xx...): try again halfway to the expiry while there is time, else end at expiry. */
  private retryOrExpire(status: number): void {
    const left = this.expiresAt - Date.now();
    this.deps.log.warn({ sipStatus: status, msLeft: Math.max(0, Math.round(left)) }, 'session refresh refused');
    clearTimeout(this.timer);
    this.timer =
      left / 2 >= MIN_RETRY_MS
        ? setTimeout(() => this.fire(), left / 2)
        : setTimeout(() => this.deps.expire('session expired: no refresh succeeded'), Math.max(0, left));
    this.timer.unref();
  }
}

/** What sending a refresh needs from its dialog. */
export interface RefreshSender {
  core: SipCore;
  digest: DigestAnswerer | null;
  /** Where the dialog's requests go now (target refreshes move it). */
  hop(): { uri: string; dest: HostPort };
  /** An in-dialog request with the next CSeq number. */
  build(method: string, extra: Array<[string, string]>, body: string): { request: SipRequest; seq: number };
  /** The same request number, for the ACK of a re-INVITE's 2xx (§13.2.2.4). */
  buildAck(seq: number, auth: Array<[string, string]>): SipRequest;
  /** Our current SDP (a re-INVITE offers it unchanged), or null when the session has none. */
  localSdp(): string | null;
  /** A 2xx to our re-INVITE: its answer and Contact, for the dialog to apply. */
  answered(res: IncomingResponse): void;
}

/**
 * One refresh request in the dialog: UPDATE without a body, or a re-INVITE whose 2xx is ACKed (and
 * ACKed again when retransmitted); a digest challenge gets one retry. Resolves with the final response,
 * or null when none came.
 */
export async function sendRefresh(s: RefreshSender, method: RefreshMethod, headers: Array<[string, string]>): Promise<IncomingResponse | null> {
  const sdp = method === 'INVITE' ? s.localSdp() : null;
  const extra: Array<[string, string]> = [...headers, ...(sdp === null ? [] : [['content-type', 'application/sdp'] as [string, string]])];
  let res = await transact(s, method, extra, sdp ?? '', []);
  if (res && (res.status === 401 || res.status === 407) && s.digest) {
    const answer = s.digest.answer(res, method, s.hop().uri);
    if (answer) res = await transact(s, method, extra, sdp ?? '', answer.headers);
  }
  return res;
}

function transact(s: RefreshSender, method: RefreshMethod, extra: Array<[string, string]>, body: string, auth: Array<[string, string]>): Promise<IncomingResponse | null> {
  const { request, seq } = s.build(method, [...extra, ...auth], body);
  const { dest } = s.hop();
  if (method === 'UPDATE') return s.core.client.nonInvite(request, dest);
  return new Promise((resolve) => {
    let settled = false;
    let ack: string | null = null;
    s.core.client.invite(request, dest, {
      onResponse: (res) => {
        if (res.status < 200) return;
        if (res.status < 300) {
          if (!settled) s.answered(res); // first: a new Contact is where the ACK goes
          ack ??= serialize(s.buildAck(seq, auth));
          s.core.send(ack, s.hop().dest);
        }
        if (!settled) resolve(res);
        settled = true;
      },
      onTimeout: () => {
        if (!settled) resolve(null);
        settled = true;
      },
    });
  });
}
