import type { Logger } from '../../log.js';
import { connectEsl, EslError, type EslConnection, type EslEvent } from './esl.js';

/** Events the engine needs, as the recordings subscribe to them. */
export const EVENTS = [
  'CHANNEL_CREATE', 'CHANNEL_PROGRESS', 'CHANNEL_PROGRESS_MEDIA', 'CHANNEL_ANSWER', 'CHANNEL_HANGUP', 'CHANNEL_HANGUP_COMPLETE',
  'CHANNEL_EXECUTE', 'CHANNEL_EXECUTE_COMPLETE', 'DTMF', 'BACKGROUND_JOB', 'PLAYBACK_START', 'PLAYBACK_STOP',
] as const;

/** Whoever owns a channel (a dial in progress, then its answered call) gets that channel's events. */
export interface ChannelOwner {
  onEvent(e: EslEvent): void;
  /** The event socket dropped: nothing more will be heard about this channel on it. */
  onDrop(): void;
}

export interface LinkOptions {
  host: string;
  port: number;
  password: string;
  reconnect: { initialMs: number; maxMs: number };
  connectTimeoutMs: number;
  log: Logger;
}

/**
 * The one inbound event-socket session, kept up: reconnects with exponential backoff after a drop or a
 * FreeSWITCH restart. Events are routed by Unique-ID (channels) or Job-UUID (bgapi results); the B leg
 * and other applications' channels on the same FreeSWITCH are ignored.
 */
export class EslLink {
  private conn: EslConnection | null = null;
  private closed = false;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly channels = new Map<string, ChannelOwner>();
  private readonly jobs = new Map<string, string>();
  /** Channels whose controller was lost with a socket: killed as soon as a session is back. */
  private readonly orphans = new Set<string>();
  private readonly upWaiters = new Set<() => void>();

  constructor(private readonly opts: LinkOptions) {}

  get connected(): boolean {
    return this.conn !== null;
  }

  /** Starts connecting; resolves after the first attempt, connected or not (the link keeps trying). */
  start(): Promise<void> {
    return this.connectOnce();
  }

  /** Resolves true once connected, false after `timeoutMs`. */
  whenConnected(timeoutMs: number): Promise<boolean> {
    if (this.conn) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.upWaiters.delete(done);
        resolve(this.conn !== null);
      };
      const t = setTimeout(done, timeoutMs);
      this.upWaiters.add(done);
    });
  }

  own(uuid: string, owner: ChannelOwner, jobUuid?: string): void {
    this.channels.set(uuid, owner);
    if (jobUuid) this.jobs.set(jobUuid, uuid);
  }

  release(uuid: string): void {
    this.channels.delete(uuid);
    for (const [job, u] of this.jobs) if (u === uuid) this.jobs.delete(job);
  }

  orphan(uuid: string): void {
    this.orphans.add(uuid);
  }

  api(command: string): Promise<string> {
    if (!this.conn) return Promise.reject(new EslError('closed', 'event socket is down'));
    return this.conn.api(command);
  }

  bgapi(command: string, jobUuid: string): Promise<string> {
    if (!this.conn) return Promise.reject(new EslError('closed', 'event socket is down'));
    return this.conn.bgapi(command, jobUuid);
  }

  execute(uuid: string, app: string, arg: string, eventUuid: string): Promise<string> {
    if (!this.conn) return Promise.reject(new EslError('closed', 'event socket is down'));
    return this.conn.execute(uuid, app, arg, eventUuid);
  }

  /** Closes the socket; dials and calls still open end as interrupted (park_timeout ends their channels). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const conn = this.conn;
    this.conn = null;
    conn?.close();
    this.dropAll();
    for (const w of [...this.upWaiters]) w();
  }

  private dropAll(): void {
    const owners = [...this.channels.values()];
    this.channels.clear();
    this.jobs.clear();
    for (const o of owners) o.onDrop();
  }

  private async connectOnce(): Promise<void> {
    this.timer = null;
    if (this.closed) return;
    const { host, port, password, connectTimeoutMs, log } = this.opts;
    let conn: EslConnection;
    try {
      conn = await connectEsl({ host, port, password, events: EVENTS, timeoutMs: connectTimeoutMs });
    } catch (e) {
      const code = e instanceof EslError ? e.code : 'connect_failed';
      // Never the password: only where and why.
      log.warn({ host, port, code, attempt: this.attempt }, 'FreeSWITCH event socket not connected');
      this.schedule();
      return;
    }
    if (this.closed) {
      conn.close();
      return;
    }
    this.conn = conn;
    this.attempt = 0;
    log.info({ host, port }, 'FreeSWITCH event socket connected');
    conn.onEvent((e) => this.route(e));
    conn.onClose(() => this.lost(conn));
    for (const w of [...this.upWaiters]) w();
    for (const uuid of [...this.orphans]) {
      this.orphans.delete(uuid);
      // The call already ended as interrupted; make sure the channel is gone too (park_timeout is the backstop).
      conn.api(`uuid_kill ${uuid} NORMAL_CLEARING`).catch(() => undefined);
    }
  }

  private lost(conn: EslConnection): void {
    if (this.conn !== conn) return;
    this.conn = null;
    if (!this.closed) this.opts.log.warn({ host: this.opts.host, port: this.opts.port }, 'FreeSWITCH event socket lost; calls in flight end as interrupted');
    this.dropAll();
    this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    const { initialMs, maxMs } = this.opts.reconnect;
    const delay = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt, 20));
    this.attempt += 1;
    this.timer = setTimeout(() => void this.connectOnce(), delay);
  }

  private route(e: EslEvent): void {
    let uuid = e.header('Unique-ID');
    if (e.name === 'BACKGROUND_JOB') {
      const job = e.header('Job-UUID');
      uuid = job ? this.jobs.get(job) ?? null : null;
      if (job) this.jobs.delete(job);
    }
    if (!uuid) return;
    this.channels.get(uuid)?.onEvent(e);
  }
}
