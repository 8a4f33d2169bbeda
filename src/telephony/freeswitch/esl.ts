import modesl, { type Event as ModeslEvent } from 'drachtio-modesl';

/**
 * A typed, Promise-only face on one drachtio-modesl inbound connection. drachtio-modesl's own
 * reconnect loop is switched off (engine.ts owns reconnection with its backoff), so a connection here
 * is one TCP socket: once it closes, it stays closed.
 */
export interface EslEvent {
  /** Event-Name, e.g. DTMF; values are already URL-decoded by drachtio-modesl. */
  name: string;
  header(name: string): string | null;
  body: string;
}

export interface EslConnection {
  /** `api <cmd>`: the api/response body. Rejects if the socket closes first or after `timeoutMs`. */
  api(command: string, timeoutMs?: number): Promise<string>;
  /** `bgapi <cmd>` with our Job-UUID; resolves with the command/reply text (the job's result comes as BACKGROUND_JOB). */
  bgapi(command: string, jobUuid: string, timeoutMs?: number): Promise<string>;
  /** `sendmsg <uuid>` execute: the command/reply text ("+OK" / "-ERR ..."). */
  execute(uuid: string, app: string, arg: string, eventUuid: string, timeoutMs?: number): Promise<string>;
  onEvent(listener: (e: EslEvent) => void): void;
  /** Called once when the socket is gone, whoever closed it. */
  onClose(listener: () => void): void;
  close(): void;
}

export interface EslConnectOptions {
  host: string;
  port: number;
  password: string;
  events: readonly string[];
  timeoutMs: number;
}

export class EslError extends Error {
  constructor(readonly code: 'connect_failed' | 'auth_failed' | 'closed' | 'timeout', message: string) {
    super(message);
    this.name = 'EslError';
  }
}

export function connectEsl(opts: EslConnectOptions): Promise<EslConnection> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let closed = false;
    const closeListeners: Array<() => void> = [];
    const eventListeners: Array<(e: EslEvent) => void> = [];
    const pending = new Set<(err: Error) => void>();

    const conn = new modesl.Connection(opts.host, opts.port, opts.password, () => {
      conn.events('plain', [...opts.events], (evt) => {
        const reply = evt.getHeader('Reply-Text') ?? '';
        if (reply.startsWith('+OK')) done(null);
        else done(new EslError('connect_failed', `event subscription refused: ${reply}`));
      });
    });
    const timer = setTimeout(() => done(new EslError('timeout', `no event socket session within ${opts.timeoutMs} ms`)), opts.timeoutMs);

    const gone = () => {
      // Stops drachtio-modesl's own reconnect loop: this object is one socket's life.
      conn.closing = true;
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      for (const fail of [...pending]) fail(new EslError('closed', 'event socket closed'));
      pending.clear();
      if (!settled) done(new EslError('connect_failed', 'event socket closed before it was ready'));
      for (const l of closeListeners) l();
    };
    conn.on('error', gone);
    conn.on('esl::end', gone);
    conn.on('esl::event::auth::fail', () => {
      done(new EslError('auth_failed', 'event socket password refused'));
      conn.closing = true;
      conn.socket?.destroy();
    });
    conn.on('esl::event::disconnect::notice', () => conn.socket?.destroy());
    conn.on('esl::event::**', (...args: unknown[]) => {
      const [evt, headers] = args as [ModeslEvent, Record<string, unknown> | undefined];
      if (headers?.['Content-Type'] !== 'text/event-plain') return;
      const name = evt.getHeader('Event-Name');
      if (!name) return;
      const e: EslEvent = { name, header: (h) => evt.getHeader(h), body: evt.getBody() };
      for (const l of eventListeners) l(e);
    });

    function done(err: Error | null): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        conn.closing = true;
        conn.socket?.destroy();
        reject(err);
      } else resolve(api);
    }

    /** One request whose reply is matched by drachtio-modesl in order; bounded in time, failed on close. */
    function request<T>(send: (cb: (evt: ModeslEvent) => void) => void, map: (evt: ModeslEvent) => T, timeoutMs: number, what: string): Promise<T> {
      if (closed) return Promise.reject(new EslError('closed', 'event socket closed'));
      return new Promise<T>((res, rej) => {
        const fail = (err: Error) => {
          clearTimeout(t);
          pending.delete(fail);
          rej(err);
        };
        const t = setTimeout(() => fail(new EslError('timeout', `${what}: no reply within ${timeoutMs} ms`)), timeoutMs);
        pending.add(fail);
        send((evt) => {
          if (!pending.has(fail)) return;
          clearTimeout(t);
          pending.delete(fail);
          res(map(evt));
        });
      });
    }

    const api: EslConnection = {
      api: (command, timeoutMs = 5000) =>
        request((cb) => conn.api(command, [], cb), (evt) => evt.getBody(), timeoutMs, `api ${command.split(' ')[0]}`),
      bgapi: (command, jobUuid, timeoutMs = 5000) =>
        request((cb) => conn.sendRecv(`bgapi ${command}`, { 'Job-UUID': jobUuid }, cb), (evt) => evt.getHeader('Reply-Text') ?? '', timeoutMs, 'bgapi'),
      execute: (uuid, app, arg, eventUuid, timeoutMs = 5000) =>
        request(
          (cb) => conn.sendRecv(`sendmsg ${uuid}`, { 'call-command': 'execute', 'execute-app-name': app, 'execute-app-arg': arg, 'event-lock': 'true', 'Event-UUID': eventUuid }, cb),
          (evt) => evt.getHeader('Reply-Text') ?? '',
          timeoutMs,
          `sendmsg ${app}`,
        ),
      onEvent: (l) => void eventListeners.push(l),
      onClose: (l) => {
        if (closed) queueMicrotask(l);
        else closeListeners.push(l);
      },
      close: () => {
        conn.closing = true;
        if (!closed) conn.disconnect();
      },
    };
  });
}
