import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the local hook does with the next requests. */
export type HookBehaviour =
  | { kind: 'answer'; body: unknown; status?: number }
  | { kind: 'raw'; text: string; status?: number; contentType?: string }
  /** Answers only after this long (beyond callpay's timeout); the reply is dropped if callpay gave up. */
  | { kind: 'slow'; ms: number; body: unknown }
  /** Resets the connection without an answer (a crashed hook behind a live port). */
  | { kind: 'reset' };

export interface ReceivedCheck {
  headers: IncomingMessage['headers'];
  raw: string;
}

export interface HookServer {
  url: string;
  port: number;
  received: ReceivedCheck[];
  behave(b: HookBehaviour): void;
  close(): Promise<void>;
}

export const allowAnswer = { sim_swapped_within_hours: null, ported: false, forwarded: 'none' };

/** A real HTTP server on 127.0.0.1 (port 0) playing the carrier's risk hook. */
export async function startHookServer(): Promise<HookServer> {
  let behaviour: HookBehaviour = { kind: 'answer', body: allowAnswer };
  const received: ReceivedCheck[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    received.push({ headers: req.headers, raw });
    const b = behaviour;
    if (b.kind === 'reset') return req.socket.destroy();
    if (b.kind === 'raw') return res.writeHead(b.status ?? 200, { 'content-type': b.contentType ?? 'application/json' }).end(b.text);
    if (b.kind === 'answer') return res.writeHead(b.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify(b.body));
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(b.body));
    }, b.ms);
    timers.add(timer);
  };
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8').on('data', (c: string) => (raw += c)).on('end', () => handle(req, res, raw));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/risk`,
    port,
    received,
    behave(b) {
      behaviour = b;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port with nothing listening: bound once, then released. */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
