import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { waitFor } from './helpers/wait.js';
import { createConsumerChangeHook, type ConsumerChangeHookOptions } from '../src/notify/consumer-hook.js';
import { consumerChangedEvent, type ConsumerChangedEvent } from '../src/notify/consumer-hook-contract.js';
import { consumerHookYaml } from '../scripts/consumer-hook-doc.js';
import { verifySignature } from '../src/notify/signature.js';
import { configuredNotifier } from '../src/wiring/self-service.js';
import { closedPort } from './risk-hook-server.js';

const SECRET = 'notify-secret-0123456789abcdefghijklmn';
const OLD_SECRET = 'notify-secret-previous-0123456789abcdef';
const CONSUMER = 'cons_01JDAAAAAAAAAAAAAAAAAAAAAA';
const AT = '2026-12-01T01:00:00.000Z';
const pinChange = { consumerId: CONSUMER, change: { kind: 'pin' as const }, at: AT, via: 'self_service_call' as const };

/** What the carrier's hook does with one request: answer with a status, or hold it unanswered. */
type Reply = { status: number } | { hold: true };

interface Received {
  headers: IncomingMessage['headers'];
  raw: string;
  /** Resolves when callpay closes the connection without waiting for an answer. */
  abandoned: Promise<void>;
}

/** A real HTTP server on 127.0.0.1 (port 0) answering from a script, then 200. */
async function startNotifyServer() {
  const replies: Reply[] = [];
  const received: Received[] = [];
  const held = new Set<ServerResponse>();
  let arrivals: Array<() => void> = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8').on('data', (c: string) => (raw += c)).on('end', () => {
      const abandoned = new Promise<void>((resolve) => res.on('close', () => (res.writableFinished ? undefined : resolve())));
      received.push({ headers: req.headers, raw, abandoned });
      const reply = replies.shift() ?? { status: 200 };
      if ('hold' in reply) held.add(res);
      else res.writeHead(reply.status, { 'content-type': 'application/json' }).end('{"ok":true}');
      const waiting = arrivals;
      arrivals = [];
      for (const w of waiting) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/consumer-changed`,
    received,
    script(...r: Reply[]) {
      replies.splice(0, replies.length, ...r);
    },
    /** Resolves once `n` requests in all have arrived. */
    arrived(n: number): Promise<void> {
      if (received.length >= n) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const check = () => (received.length >= n ? resolve() : arrivals.push(check));
        arrivals.push(check);
      });
    },
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Fails naming `what` unless `p` settles within `ms` (a bound on every wait, not a sleep). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: 'debug', destination: new Writable({ write(chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } }) });
  return { log, lines, warnings: () => lines.filter((l) => l.level === 40) };
}

describe('consumer change hook against a local server', () => {
  let server: Awaited<ReturnType<typeof startNotifyServer>>;
  beforeAll(async () => {
    server = await startNotifyServer();
  });
  afterAll(() => server.close());
  beforeEach(() => {
    server.received.length = 0;
    server.script();
  });
  const make = (extra: Partial<ConsumerChangeHookOptions> = {}) => {
    const c = capture();
    const hook = createConsumerChangeHook({ url: server.url, secrets: [SECRET, OLD_SECRET], timeoutMs: 1000, clock: () => new Date(), log: c.log, retryDelaysMs: [20, 40], ...extra });
    return { hook, ...c };
  };

  it('POSTs one signed event per change, ids and field names only, without holding up the caller', async () => {
    const { hook, warnings } = make();
    expect(hook.consumerChanged(pinChange)).toBeUndefined();
    hook.consumerChanged({ consumerId: CONSUMER, change: { kind: 'policy', changed: ['callAbove'] }, at: AT, via: 'self_service_call' });
    // Returned before any byte reached the hook: the call goes on meanwhile.
    expect(server.received).toHaveLength(0);
    expect(hook.pending()).toBe(2);
    await within(hook.idle(), 5000, 'both deliveries');
    expect(server.received).toHaveLength(2);
    const bodies = server.received.map((r) => JSON.parse(r.raw) as ConsumerChangedEvent);
    expect(bodies.map((b) => b.data).sort((a, b) => a.change.kind.localeCompare(b.change.kind))).toEqual([
      { consumer_id: CONSUMER, change: { kind: 'pin' }, via: 'self_service_call', at: AT },
      { consumer_id: CONSUMER, change: { kind: 'policy', changed: ['callAbove'] }, via: 'self_service_call', at: AT },
    ].sort((a, b) => a.change.kind.localeCompare(b.change.kind)));
    for (const [i, got] of server.received.entries()) {
      const body = bodies[i]!;
      // The contract is strict: no other field (no number, PIN or address) can be in it.
      consumerChangedEvent.parse(body);
      expect(Object.keys(body).sort()).toEqual(['created_at', 'data', 'id', 'type']);
      expect(body).toMatchObject({ type: 'consumer.changed', id: expect.stringMatching(/^evt_[0-9A-Z]{26}$/) });
      expect(got.headers['callpay-event-id']).toBe(body.id);
      expect(got.headers['content-type']).toBe('application/json');
      const header = String(got.headers['callpay-signature']);
      expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
      expect(verifySignature(header, got.raw, SECRET)).toBe(true);
      expect(verifySignature(header, got.raw, OLD_SECRET)).toBe(true);
      expect(verifySignature(header, got.raw, 'another-secret-0123456789abcdefghijkl')).toBe(false);
      expect(verifySignature(header, got.raw.replace(CONSUMER, 'cons_01JDBBBBBBBBBBBBBBBBBBBBBB'), SECRET)).toBe(false);
      expect(Object.keys(body.data).sort()).toEqual(['at', 'change', 'consumer_id', 'via']);
      expect(Object.keys(body.data.change).every((k) => k === 'kind' || k === 'changed')).toBe(true);
    }
    expect(warnings()).toEqual([]);
  });

  it('a 500 is retried with the same event and delivered once', async () => {
    const { hook, warnings } = make();
    server.script({ status: 500 });
    hook.consumerChanged(pinChange);
    await within(hook.idle(), 5000, 'the retried delivery');
    expect(server.received).toHaveLength(2);
    const [first, second] = server.received;
    expect(second!.raw).toBe(first!.raw);
    expect(second!.headers['callpay-event-id']).toBe(first!.headers['callpay-event-id']);
    expect(verifySignature(String(second!.headers['callpay-signature']), second!.raw, SECRET)).toBe(true);
    expect(hook.pending()).toBe(0);
    expect(warnings()).toEqual([]);
  });

  it('a hook slower than timeoutMs is cut off at it and tried again', async () => {
    const { hook, warnings } = make({ timeoutMs: 200 });
    server.script({ hold: true });
    const started = Date.now();
    hook.consumerChanged(pinChange);
    await within(server.arrived(1), 5000, 'the first try');
    await within(server.received[0]!.abandoned, 3000, 'callpay to give up on the held request');
    await within(hook.idle(), 5000, 'the second try');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(server.received).toHaveLength(2);
    expect(warnings()).toEqual([]);
  });

  it('after the last try, one warning names the consumer and the failure', async () => {
    const { hook, warnings } = make();
    server.script({ status: 503 }, { status: 503 }, { status: 503 });
    hook.consumerChanged(pinChange);
    await within(hook.idle(), 5000, 'three tries');
    expect(server.received).toHaveLength(3);
    expect(warnings()).toEqual([expect.objectContaining({ consumerId: CONSUMER, failure: 'HTTP 503', tries: 3, msg: 'consumer change notification failed; giving up' })]);

    const port = await closedPort();
    const down = make({ url: `http://127.0.0.1:${port}/consumer-changed`, retryDelaysMs: [] });
    down.hook.consumerChanged(pinChange);
    await within(down.hook.idle(), 5000, 'the refused try');
    expect(down.warnings()).toEqual([expect.objectContaining({ consumerId: CONSUMER, failure: expect.stringContaining('ECONNREFUSED'), tries: 1 })]);
  });

  it('stop() gives a change waiting to retry its last try at once, then abandons what still failed, logged', async () => {
    const { hook, warnings, lines } = make({ retryDelaysMs: [60_000, 60_000] });
    server.script({ status: 500 }, { status: 500 }, { status: 503 });
    hook.consumerChanged({ ...pinChange, consumerId: 'cons_later' });
    hook.consumerChanged({ ...pinChange, consumerId: 'cons_lost' });
    await waitFor('both changes waiting 60 s to retry', () => lines.filter((l) => l.msg === 'consumer change notification failed; will retry').length === 2);
    await within(hook.stop(), 5000, 'stop(), which waits for the last tries, not the 60 s retry delays');
    // The two last tries get the script's 503 and then 200: one change is delivered, one is abandoned.
    expect(server.received).toHaveLength(4);
    expect(hook.pending()).toBe(0);
    const abandoned = warnings().filter((w) => w.msg === 'consumer change notification abandoned: the daemon stopped');
    expect(abandoned).toHaveLength(1);
    expect(abandoned[0]).toMatchObject({ tries: 2 });
    hook.consumerChanged(pinChange);
    expect(hook.pending()).toBe(0);
  });
});

describe('consumer change hook: the call path and its bounds', () => {
  /** A hook that never answers; only an abort ends a request. */
  const hanging: typeof fetch = (_url, init) => new Promise<Response>((_, reject) => {
    init?.signal?.addEventListener('abort', () => reject(init.signal?.reason as Error));
  });

  it('never blocks or throws into the call, keeps at most maxPending, and close() abandons the rest', async () => {
    const { log, warnings } = capture();
    const hook = createConsumerChangeHook({ url: 'http://127.0.0.1:9/x', secrets: [SECRET], timeoutMs: 10_000, clock: () => new Date(), log, fetchImpl: hanging, maxPending: 2 });
    for (const id of ['cons_1', 'cons_2', 'cons_3']) expect(hook.consumerChanged({ ...pinChange, consumerId: id })).toBeUndefined();
    expect(hook.pending()).toBe(2);
    expect(warnings()).toEqual([expect.objectContaining({ consumerId: 'cons_1', msg: 'consumer change notification dropped: too many pending' })]);
    const idle = hook.idle();
    hook.close();
    await within(idle, 1000, 'idle after close');
    expect(hook.pending()).toBe(0);
    expect(warnings().filter((w) => w.msg === 'consumer change notification abandoned: the daemon stopped').map((w) => w.consumerId)).toEqual(['cons_2', 'cons_3']);
    hook.consumerChanged(pinChange);
    expect(hook.pending()).toBe(0);

    const throwing = createConsumerChangeHook({ url: 'http://127.0.0.1:9/x', secrets: [SECRET], timeoutMs: 100, clock: () => new Date(), log, retryDelaysMs: [], fetchImpl: () => { throw new TypeError('boom'); } });
    expect(() => throwing.consumerChanged(pinChange)).not.toThrow();
    await within(throwing.idle(), 1000, 'the failed try');
    expect(warnings().at(-1)).toMatchObject({ consumerId: CONSUMER, failure: 'request failed: boom' });
  });
});

describe('selfService.notifyHook configuration and wiring', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'notify-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const load = (env: Record<string, string>) => loadConfig({ cwd: dir, env });

  it('is off by default; a url needs an absolute secretFile; bad values name their key', () => {
    expect(load({}).selfService.notifyHook).toEqual({ url: null, secretFile: null, timeoutMs: 2000 });
    expect(() => load({ CALLPAY_SELF_SERVICE_NOTIFY_HOOK_URL: 'https://notify.carrier.example/consumer' }))
      .toThrow(expect.objectContaining({ code: 'config_invalid', field: 'selfService.notifyHook.secretFile' }));
    expect(() => load({ CALLPAY_SELF_SERVICE_NOTIFY_HOOK_URL: 'https://notify.carrier.example/consumer', CALLPAY_SELF_SERVICE_NOTIFY_HOOK_SECRET_FILE: 'notify.secrets' }))
      .toThrow(expect.objectContaining({ code: 'config_invalid', field: 'selfService.notifyHook.secretFile' }));
    expect(() => load({ CALLPAY_SELF_SERVICE_NOTIFY_HOOK_URL: 'ftp://carrier/x', CALLPAY_SELF_SERVICE_NOTIFY_HOOK_SECRET_FILE: '/etc/callpay/notify' }))
      .toThrow(expect.objectContaining({ code: 'config_invalid', field: 'selfService.notifyHook.url' }));
    expect(() => load({ CALLPAY_SELF_SERVICE_NOTIFY_HOOK_TIMEOUT_MS: '20' }))
      .toThrow(expect.objectContaining({ code: 'config_invalid', field: 'selfService.notifyHook.timeoutMs' }));
    expect(load({ CALLPAY_SELF_SERVICE_NOTIFY_HOOK_URL: 'https://notify.carrier.example/consumer', CALLPAY_SELF_SERVICE_NOTIFY_HOOK_SECRET_FILE: '/etc/callpay/notify', CALLPAY_SELF_SERVICE_NOTIFY_HOOK_TIMEOUT_MS: '500' }).selfService.notifyHook)
      .toEqual({ url: 'https://notify.carrier.example/consumer', secretFile: '/etc/callpay/notify', timeoutMs: 500 });
  });

  it('docs/consumer-hook.openapi.yaml is what the code generates (run `npx tsx scripts/consumer-hook-doc.ts` after changing the contract)', () => {
    expect(readFileSync('docs/consumer-hook.openapi.yaml', 'utf8')).toBe(consumerHookYaml());
  });

  it('logs every change, POSTs it when a url is set, and refuses an unreadable secrets file naming the key', async () => {
    const server = await startNotifyServer();
    try {
      const { log, lines } = capture();
      const logged = configuredNotifier({ url: null, secretFile: null, timeoutMs: 500 }, () => new Date(), log);
      logged.notifier.consumerChanged(pinChange);
      expect(lines.filter((l) => l.msg === 'consumer changed their settings by phone')).toHaveLength(1);

      const file = join(dir, 'notify.secrets');
      writeFileSync(file, `${SECRET}\n`);
      const both = configuredNotifier({ url: server.url, secretFile: file, timeoutMs: 500 }, () => new Date(), log);
      both.notifier.consumerChanged(pinChange);
      expect(lines.filter((l) => l.msg === 'consumer changed their settings by phone')).toHaveLength(2);
      await within(server.arrived(1), 5000, 'the POST');
      expect(verifySignature(String(server.received[0]!.headers['callpay-signature']), server.received[0]!.raw, SECRET)).toBe(true);
      await both.stop();

      expect(() => configuredNotifier({ url: server.url, secretFile: join(dir, 'absent'), timeoutMs: 500 }, () => new Date(), log))
        .toThrow(expect.objectContaining({ code: 'config_invalid', field: 'selfService.notifyHook.secretFile' }));
      writeFileSync(file, 'short\n');
      expect(() => configuredNotifier({ url: server.url, secretFile: file, timeoutMs: 500 }, () => new Date(), log))
        .toThrow(expect.objectContaining({ code: 'config_invalid', field: 'selfService.notifyHook.secretFile' }));
    } finally {
      await server.close();
    }
  });
});
