// Merchant request → INVITE on the wire (issue 15 part 3): a real `callpay serve` (embedded engine)
// takes POST /v1/payments with the login account of an enrolled consumer, which places the call at
// once; a tiny SIP phone on loopback in this process timestamps each INVITE as it arrives and answers
// 486 Busy (the call ends there: no media, no retry). Requests are sent open-loop at a fixed rate.
// After each run the same schedule goes to the bare baseline of bench/intake.ts (node:http + the same
// SQLite writes), whose request → 201 is the floor any INVITE sent after a durable commit stands on.
// Run: npx tsx bench/invite-latency.ts [--rate 100] [--seconds 10] [--runs 3] [--consumers 10]
// Exits non-zero when a payment's INVITE never arrives, or a request is not answered 201 "calling".
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freeRtpPortRange } from '../test/helpers/rtp-phone.js';
import { procCpuMs } from './calls/proc-stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WARMUP = 50; // payments per run before timing: JIT, statement caches, keep-alive sockets
const INVITE_WAIT_MS = 5_000; // after the last request, how long a missing INVITE is waited for
const REQUEST_TIMEOUT_MS = 10_000;

interface Args { rate: number; seconds: number; runs: number; consumers: number }

function parseArgs(argv: string[]): Args {
  const out: Args = { rate: 100, seconds: 10, runs: 3, consumers: 10 };
  const limits: Record<keyof Args, number> = { rate: 1000, seconds: 120, runs: 9, consumers: 50 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]?.replace(/^--/, '') as keyof Args;
    const raw = argv[i + 1] ?? '';
    if (!(name in limits) || !/^[1-9]\d*$/.test(raw) || Number(raw) > limits[name]) {
      console.error('usage: invite-latency.ts [--rate 1..1000] [--seconds 1..120] [--runs 1..9] [--consumers 1..50]');
      process.exit(2);
    }
    out[name] = Number(raw);
  }
  return out;
}

/** A SIP phone that only times INVITEs and turns them down: 486 to each, 200 to anything but ACK. */
interface Phone { port: number; onInvite(fn: (user: string, at: bigint) => void): void; close(): void }

async function startPhone(): Promise<Phone> {
  const socket = createSocket('udp4');
  let listener: (user: string, at: bigint) => void = () => {};
  socket.on('message', (buf: Buffer, from: RemoteInfo) => {
    const at = process.hrtime.bigint();
    const text = buf.toString('latin1');
    const [head = ''] = text.split('\r\n\r\n', 1);
    const lines = head.split('\r\n');
    const start = /^([A-Z]+) (\S+) SIP\/2\.0$/.exec(lines[0] ?? '');
    if (!start) return; // a response: nothing to do
    const [, method, uri] = start;
    if (method === 'ACK') return;
    const pick = (full: string, compact: string) => lines.filter((l) => new RegExp(`^(${full}|${compact})\\s*:`, 'i').test(l)).map((l) => l.slice(l.indexOf(':') + 1).trim());
    const to = pick('To', 't')[0] ?? '';
    const [status, reason] = method === 'INVITE' ? [486, 'Busy Here'] : [200, 'OK'];
    const reply = [
      `SIP/2.0 ${status} ${reason}`,
      ...pick('Via', 'v').map((v) => `Via: ${v}`),
      `From: ${pick('From', 'f')[0] ?? ''}`,
      `To: ${/;tag=/.test(to) ? to : `${to};tag=bench${Math.floor(Math.random() * 1e9)}`}`,
      `Call-ID: ${pick('Call-ID', 'i')[0] ?? ''}`,
      `CSeq: ${pick('CSeq', 'cseq')[0] ?? ''}`,
      'Content-Length: 0', '', '',
    ].join('\r\n');
    socket.send(reply, from.port, from.address);
    if (method === 'INVITE') listener(/^sips?:([^@;]+)@/.exec(uri ?? '')?.[1] ?? '', at);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, onInvite: (fn) => void (listener = fn), close: () => socket.close() };
}

interface Server { url: string; child: ChildProcess; output(): string }

/** `callpay serve` in `dir`, or (args given) another server that says "serving on <url>" on stderr. */
function startServe(dir: string, env: NodeJS.ProcessEnv, args = [join(ROOT, 'bin/callpay.js'), 'serve']): Promise<Server> {
  // e.g. BENCH_SERVE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to see where the daemon's time goes
  const nodeArgs = (process.env.BENCH_SERVE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  const keep = (d: Buffer) => void (out = (out + d.toString()).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start within 20 s:\n${out}`)), 20_000);
    child.stderr?.on('data', () => {
      const m = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve({ url: m[1], child, output: () => out });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited (${code ?? signal}) before listening:\n${out}`));
    });
  });
}


interface Pending { sentAt: bigint; user: string }
interface Result { sent: number; invites: number; lost: number; bad: number; invite: Float64Array; reply: Float64Array; srvCpuMs: number; firstError?: string }

let seq = 0;

/** Calls `send(i)` for i = 0 … count-1 at `rate` per second from now (open loop), then waits for every one. */
async function openLoop(rate: number, count: number, send: (i: number) => Promise<void>): Promise<void> {
  const t0 = process.hrtime.bigint();
  const sent: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const due = t0 + BigInt(Math.round((i * 1e9) / rate));
    const wait = Number(due - process.hrtime.bigint()) / 1e6;
    if (wait > 1) await new Promise((r) => setTimeout(r, wait - 1));
    while (process.hrtime.bigint() < due) { /* the last millisecond: timers are not that precise */ }
    sent.push(send(i));
  }
  await Promise.all(sent);
}

/** `count` payments at `rate` per second, round-robin over the consumers; each waits for its INVITE. */
async function run(srv: Server, phone: Phone, apiKey: string, users: Array<{ login: string; user: string }>, rate: number, count: number): Promise<Result> {
  const waiting = new Map<string, Pending[]>(); // by the dialled user part, oldest first
  const invite: number[] = [];
  const reply: number[] = [];
  let bad = 0;
  let firstError: string | undefined;
  let unmatched = 0;
  phone.onInvite((user, at) => {
    const p = waiting.get(user)?.shift();
    if (p) invite.push(Number(at - p.sentAt) / 1e6);
    else unmatched++;
  });
  const cpu0 = procCpuMs(srv.child.pid);
  await openLoop(rate, count, (i) => {
    const u = users[i % users.length]!;
    const n = ++seq;
    const body = JSON.stringify({ amount: 15000, currency: 'TWD', reference: `inv-${n}`, description: 'Bench purchase', return_url: 'https://shop.example/return', login_account: u.login });
    const pending: Pending = { sentAt: process.hrtime.bigint(), user: u.user };
    const list = waiting.get(u.user) ?? [];
    list.push(pending);
    waiting.set(u.user, list);
    return fetch(`${srv.url}/v1/payments`, {
      method: 'POST', body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'idempotency-key': `inv-${process.pid}-${n}` },
    }).then(async (res) => {
      const text = await res.text();
      reply.push(Number(process.hrtime.bigint() - pending.sentAt) / 1e6);
      if (res.status !== 201 || !text.includes('"status":"calling"')) {
        bad++;
        firstError ??= `HTTP ${res.status}: ${text.slice(0, 200)}`;
      }
    }, (e: unknown) => {
      bad++;
      firstError ??= String(e);
    });
  });
  const deadline = Date.now() + INVITE_WAIT_MS;
  while (invite.length + unmatched < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const srvCpuMs = procCpuMs(srv.child.pid) - cpu0;
  if (unmatched) firstError ??= `${unmatched} INVITEs matched no request`;
  return { sent: count, invites: invite.length, lost: count - invite.length, bad, invite: Float64Array.from(invite).sort(), reply: Float64Array.from(reply).sort(), srvCpuMs, ...(firstError ? { firstError } : {}) };
}

/**
 * The floor under the 201: the same open-loop schedule against the bare node:http + SQLite server of
 * bench/intake.ts (same durable writes, no call), its reply times only.
 */
async function runBaseline(url: string, rate: number, count: number): Promise<{ reply: Float64Array; bad: number }> {
  const reply: number[] = [];
  let bad = 0;
  await openLoop(rate, count, () => {
    const n = ++seq;
    const sentAt = process.hrtime.bigint();
    const body = JSON.stringify({ amount: 15000, currency: 'TWD', reference: `inv-${n}`, description: 'Bench purchase', return_url: 'https://shop.example/return' });
    return fetch(url, { method: 'POST', body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), headers: { 'content-type': 'application/json', 'idempotency-key': `base-${process.pid}-${n}` } })
      .then(async (res) => {
        await res.text();
        reply.push(Number(process.hrtime.bigint() - sentAt) / 1e6);
        if (res.status !== 201) bad++;
      }, () => void bad++);
  });
  return { reply: Float64Array.from(reply).sort(), bad };
}

const pct = (xs: Float64Array, p: number) => xs[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)] ?? NaN;

const children: ChildProcess[] = [];
const dirs: string[] = [];
function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) c.kill('SIGTERM');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

async function main(): Promise<number> {
  const { rate, seconds, runs, consumers } = parseArgs(process.argv.slice(2));
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit', timeout: 180_000 });
  const phone = await startPhone();
  const dir = mkdtempSync(join(tmpdir(), 'callpay-bench-invite-'));
  dirs.push(dir);
  const rtp = await freeRtpPortRange(16);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '', CALLPAY_HTTP_HOST: '127.0.0.1', CALLPAY_HTTP_PORT: '0', CALLPAY_ADMIN_PORT: '0', CALLPAY_LOG_LEVEL: 'warn',
    CALLPAY_RATE_LIMIT_PER_SECOND: '100000', CALLPAY_RATE_LIMIT_BURST: '100000', CALLPAY_ARGON2_WORKERS: '1',
    CALLPAY_TELEPHONY_SIP_BIND_PORT: '0', CALLPAY_TELEPHONY_SIP_REQUEST_URI: `sip:{number}@127.0.0.1:${phone.port}`,
    CALLPAY_TELEPHONY_RTP_PORT_MIN: String(rtp.portMin), CALLPAY_TELEPHONY_RTP_PORT_MAX: String(rtp.portMax),
    CALLPAY_IVR_RETRY_ATTEMPTS: '0', CALLPAY_IVR_MAX_CALLS_PER_CONSUMER_PER_HOUR: '1000', CALLPAY_IVR_MAX_CALLS_PER_NUMBER_PER_HOUR: '1000',
    CALLPAY_IVR_MAX_CALLS_PER_MERCHANT_PER_HOUR: '1000000',
  };
  const cli = (args: string[], stdin?: string) => new Promise<string>((resolve, reject) => {
    const child = execFile(process.execPath, [join(ROOT, 'bin/callpay.js'), ...args], { cwd: dir, env, timeout: 30_000 }, (e, stdout) => (e ? reject(e) : resolve(stdout)));
    child.stdin?.end(stdin ?? '');
  });
  await cli(['init']);
  const { api_key: apiKey } = JSON.parse(await cli(['merchant', 'add', '--name', 'Bench Shop', '--json'])) as { api_key: string };
  const perConsumer = Math.ceil(((WARMUP + rate * seconds) * runs) / consumers);
  if (perConsumer > 1000) throw new Error(`${perConsumer} calls per consumer: above the hourly cap of 1000; use more --consumers`);
  const users: Array<{ login: string; user: string }> = [];
  for (let i = 0; i < consumers; i++) {
    const digits = String(10_000 + i).slice(1); // 4 digits per consumer, so each is dialled at its own number
    const login = `bench${i}`;
    await cli(['consumer', 'add', '--login', login, '--phone', `+88691234${digits}`, '--national-id', 'A123456789', '--address', 'No. 7, Section 1', '--pin-stdin'], '482916\n');
    const acct = JSON.parse(await cli(['account', 'add', login, '--kind', 'mobile', '--number', `0955${String(100_000 + i).slice(1)}0`, '--plan', 'prepaid', '--json'])) as { id: string };
    await cli(['account', 'topup', acct.id, '--amount', '10000000']);
    users.push({ login, user: '' });
  }
  const srv = await startServe(dir, env);
  // Learn the user part each consumer is dialled at (the request URI's {number}): one payment each.
  for (const u of users) {
    const seen = new Promise<string>((resolve) => phone.onInvite((user) => resolve(user)));
    const res = await fetch(`${srv.url}/v1/payments`, {
      method: 'POST', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', 'idempotency-key': `learn-${u.login}` },
      body: JSON.stringify({ amount: 15000, currency: 'TWD', reference: 'learn', description: 'Bench purchase', return_url: 'https://shop.example/return', login_account: u.login }),
    });
    if (res.status !== 201) throw new Error(`learning ${u.login}: HTTP ${res.status} ${await res.text()}\n${srv.output()}`);
    u.user = await Promise.race([seen, new Promise<string>((_, reject) => setTimeout(() => reject(new Error(`no INVITE for ${u.login}:\n${srv.output()}`)), 5_000))]);
  }
  const baseline = await startServe(ROOT, { PATH: env.PATH }, ['--import', 'tsx', join(ROOT, 'bench/intake-baseline.ts'), join(dir, 'baseline.db')]);
  console.log(`node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? '?'}), ${rate} payments/s for ${seconds} s per run after ${WARMUP} warm-up, ` +
    `${consumers} consumers, embedded engine, SIP phone on 127.0.0.1:${phone.port} answering 486\n`);
  console.log('run   payments  invites  lost  bad   invite p50  p99    max ms   201 p50  p99    max ms   srv cpu ms/payment   baseline 201 p50  p99 ms');
  const f = (n: number) => n.toFixed(2).padStart(6);
  const results: Result[] = [];
  const baselines: Float64Array[] = [];
  for (let r = 1; r <= runs; r++) {
    await run(srv, phone, apiKey, users, rate, WARMUP);
    const x = await run(srv, phone, apiKey, users, rate, rate * seconds);
    results.push(x);
    await runBaseline(`${baseline.url}/v1/payments`, rate, WARMUP);
    const b = await runBaseline(`${baseline.url}/v1/payments`, rate, rate * seconds);
    baselines.push(b.reply);
    if (b.bad) x.firstError ??= `baseline: ${b.bad} requests not answered 201`;
    console.log(`${String(r).padEnd(5)} ${String(x.sent).padStart(8)} ${String(x.invites).padStart(8)} ${String(x.lost).padStart(5)} ${String(x.bad).padStart(4)}   ` +
      `${f(pct(x.invite, 50))} ${f(pct(x.invite, 99))} ${f(pct(x.invite, 100))}   ${f(pct(x.reply, 50))} ${f(pct(x.reply, 99))} ${f(pct(x.reply, 100))}   ${(x.srvCpuMs / x.sent).toFixed(3).padStart(10)}` +
      `           ${f(pct(b.reply, 50))} ${f(pct(b.reply, 99))}`);
  }
  const base = Float64Array.from(baselines.flatMap((x) => [...x])).sort();
  const all = Float64Array.from(results.flatMap((x) => [...x.invite])).sort();
  console.log(`\nall runs: request → INVITE p50 ${pct(all, 50).toFixed(2)} ms, p99 ${pct(all, 99).toFixed(2)} ms, max ${pct(all, 100).toFixed(2)} ms over ${all.length} INVITEs; ` +
    `per-run p99 ${results.map((x) => pct(x.invite, 99).toFixed(2)).join(', ')} ms`);
  console.log(`same schedule, bare baseline (node:http + the same SQLite writes, no call): 201 p50 ${pct(base, 50).toFixed(2)} ms, p99 ${pct(base, 99).toFixed(2)} ms; ` +
    `callpay's request → INVITE p99 is ${(pct(all, 99) / pct(base, 99)).toFixed(2)}x the baseline's request → 201 p99`);
  phone.close();
  const failed = results.filter((x) => x.lost || x.bad);
  for (const x of failed) console.log(`run lost ${x.lost} INVITEs, ${x.bad} bad replies; first: ${x.firstError ?? '-'}`);
  return failed.length ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { cleanup(); process.exit(130); });
try {
  process.exitCode = await main();
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
} finally {
  cleanup();
}
