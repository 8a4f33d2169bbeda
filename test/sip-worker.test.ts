import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { createEmbeddedEngine } from '../src/telephony/embedded.js';
import type { CallEngine } from '../src/telephony/engine.js';
import { freeRtpPortRange } from './helpers/rtp-phone.js';
import { startSipp, type Sipp } from './helpers/sipp.js';
import { waitFor } from './helpers/wait.js';

/**
 * The embedded engine's SIP user agent runs in its own worker thread (src/telephony/sip/worker/):
 * a main thread busy with HTTP and the database must not delay an ACK, a response or a
 * retransmission. sipp is the phone; the main thread is blocked on purpose while it answers.
 */

/** Each message in sipp's -trace_msg with its direction, first line and sipp's own timestamp (ms). */
function timedTrace(trace: string): Array<{ direction: 'sent' | 'received'; firstLine: string; cseq: string; at: number }> {
  const out = [];
  const re = /^-{10,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n(?:UDP|TCP) message (sent|received)[^\n]*\n\n([^]*?)(?=^-{10,} |(?![^]))/gm;
  for (const m of trace.matchAll(re)) {
    const text = m[3]!;
    const [date, time] = m[1]!.split(' ');
    const [hms, frac] = time!.split('.');
    const at = Date.parse(`${date}T${hms}Z`) + Number(`0.${frac}`) * 1000;
    out.push({ direction: m[2] as 'sent' | 'received', firstLine: text.split(/\r?\n/, 1)[0]!, cseq: /^CSeq:\s*(.*)$/im.exec(text)?.[1]?.trim() ?? '', at });
  }
  return out;
}

/** Blocks this (the main) thread: no event of the main loop runs meanwhile. */
function blockMainThread(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('SIP signalling in its own worker thread', () => {
  let sipp: Sipp | undefined;
  let engine: (CallEngine & { sipPort: number }) | undefined;
  afterEach(async () => {
    await engine?.close();
    await sipp?.stop();
    engine = undefined;
    sipp = undefined;
  });

  async function start(log: pino.Logger, sip: { receiveBufferBytes?: number } = {}, calls = 1): Promise<{ sipp: Sipp; engine: CallEngine & { sipPort: number } }> {
    sipp = await startSipp({ scenario: 'answer-after-ring', timeoutMs: 20_000, calls });
    engine = await createEmbeddedEngine({
      sip: {
        bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, requestUri: `sip:{number}@127.0.0.1:${sipp.port}`,
        from: 'sip:callpay@127.0.0.1', displayName: 'callpay', username: null, password: null, ringTimeoutMs: 10_000, ...sip,
      },
      rtp: { bindHost: '127.0.0.1', ...(await freeRtpPortRange(4)) },
      log,
    });
    return { sipp, engine };
  }

  it('ACKs the 200 at once while the main thread is blocked, and the call goes on afterwards', async () => {
    const { sipp: s, engine: e } = await start(pino({ level: 'silent' }));
    const BLOCK_MS = 1500;
    let blockedAt = 0;
    const log = pino({ level: 'silent' });
    // At the 180 the main thread stops for 1.5 s; the phone answers 300 ms after its 180.
    const r = await e.dial({ number: '+886912345678', log, onRinging: () => { blockedAt = Date.now(); blockMainThread(BLOCK_MS); } });
    expect(blockedAt).toBeGreaterThan(0);
    expect(r.kind).toBe('answered');
    if (r.kind !== 'answered') return;
    await r.call.hangup();
    expect((await r.call.ended).outcome).toBe('answered');
    expect((await s.outcome()).code, s.logs()).toBe(0);

    const trace = timedTrace(s.messages());
    const oks = trace.filter((m) => m.direction === 'sent' && /^SIP\/2\.0 200/.test(m.firstLine) && /INVITE$/.test(m.cseq));
    const ack = trace.find((m) => m.direction === 'received' && /^ACK /.test(m.firstLine));
    expect(oks.length, 'the 200 was sent once: no retransmission was needed').toBe(1);
    expect(ack).toBeDefined();
    // The 200 came while the main thread was blocked, and its ACK did not wait for the main thread.
    expect(oks[0]!.at).toBeGreaterThan(blockedAt);
    expect(oks[0]!.at).toBeLessThan(blockedAt + BLOCK_MS - 500);
    expect(ack!.at - oks[0]!.at).toBeLessThan(250);
  });

  it("writes the worker's log lines where the engine's logger writes, with the call's bindings, redacted", async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } }).child({ component: 'engine' });
    const { engine: e } = await start(log);
    const r = await e.dial({ number: '+886912345678', log: log.child({ paymentId: 'pay_worker_log_test' }) });
    if (r.kind !== 'answered') throw new Error(r.kind);
    await r.call.hangup();
    await r.call.ended;
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const fromWorker = parsed.filter((l) => l.paymentId === 'pay_worker_log_test' && l.component === 'engine');
    // "dialing", "provisional response" and "answered" are the SIP user agent's (invite.ts), in the worker.
    expect(fromWorker.map((l) => l.msg), lines.join('')).toEqual(expect.arrayContaining(['dialing', 'provisional response', 'answered']));
    expect(parsed.every((l) => l.app === 'callpay')).toBe(true);
    expect(lines.join('')).not.toMatch(/886912345678/);
  });

  it('asks the kernel for the configured receive buffer, and warns with both figures when it grants less', async () => {
    const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim());
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', destination: { write: (line: string) => void lines.push(line) } });
    const wanted = rmemMax * 4;
    await start(log, { receiveBufferBytes: wanted });
    const warn = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => /receive buffer smaller/.test(String(l.msg)));
    expect(warn, lines.join('')).toMatchObject({ wanted, granted: rmemMax });
  });

  it('a lost SIP worker ends its calls and is replaced on the same port: not healthy meanwhile, the next call is answered', async () => {
    // The test finds the SIP worker as the Worker that is sent the first INVITE (protocol.ts), and kills it.
    let sipWorker: Worker | null = null;
    const original = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker['postMessage']>): void {
      const m = args[0] as { op?: unknown } | null;
      if (sipWorker === null && typeof m === 'object' && m !== null && m.op === 'invite') sipWorker = this;
      original.apply(this, args);
    };
    try {
      const lines: string[] = [];
      const log = createLogger({ level: 'warn', destination: { write: (line: string) => void lines.push(line) } });
      const { engine: e } = await start(log, {}, 2);
      const port = e.sipPort;
      const first = await e.dial({ number: '+886912345678', log });
      if (first.kind !== 'answered') throw new Error(first.kind);
      expect(e.healthy?.()).toBe(true);
      await (sipWorker as Worker | null)!.terminate();
      expect((await first.call.ended).outcome).toBe('answered'); // ended with the worker (by us, not the phone)
      expect(await first.call.play(['/nonexistent.wav'])).toEqual({ kind: 'hung_up' });
      expect(e.healthy?.()).toBe(false); // the replacement starts 200 ms after the loss
      await waitFor('a new SIP worker', () => e.healthy?.() === true, { timeoutMs: 5_000 });
      expect(e.sipPort).toBe(port);
      const second = await e.dial({ number: '+886912345678', log });
      expect(second.kind).toBe('answered');
      if (second.kind === 'answered') await second.call.hangup();
      expect(lines.join('')).toMatch(/SIP worker lost/);
    } finally {
      Worker.prototype.postMessage = original;
    }
  });
});
