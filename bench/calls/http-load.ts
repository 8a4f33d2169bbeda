// Load generator child (the bench's entry, main.ts, re-run with BENCH_CALLS_ROLE=load): POST
// /v1/payments from `clients` keep-alive loops between a "go" and a "stop" message over IPC.
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { children } from './cleanup.js';
import { ROOT } from './config.js';
import type { HttpCounter } from './daemon.js';
import { pct, sleep, within } from './util.js';

/** The file the child runs: main.ts, which takes the load role when BENCH_CALLS_ROLE=load. */
const ENTRY = fileURLToPath(new URL('./main.ts', import.meta.url));

type ToLoad = { op: 'go'; url: string; apiKey: string; clients: number } | { op: 'stop' };
type FromLoad =
  | { ev: 'ready' }
  | { ev: 'done'; requests: number; errors: number; p50: number; p99: number; firstError: string | null };

export async function loadChild(): Promise<void> {
  if (!process.send) throw new Error('load role needs an IPC channel');
  const send = (m: FromLoad) => process.send!(m);
  const limitMs = Number(process.env.BENCH_CALLS_LOAD_LIMIT_MS) || 300_000;
  setTimeout(() => process.exit(3), limitMs).unref(); // bounded even if the parent forgets it
  process.on('disconnect', () => process.exit(0)); // parent gone
  let stopping = false;
  let running: Promise<void> | null = null;
  let requests = 0;
  let errors = 0;
  let firstError: string | null = null;
  const latencies: number[] = [];
  process.on('message', (m: ToLoad) => {
    if (m.op === 'stop') {
      stopping = true;
      void (running ?? Promise.resolve()).then(() => {
        send({ ev: 'done', requests, errors, p50: pct(latencies, 50), p99: pct(latencies, 99), firstError });
        process.disconnect();
      });
      return;
    }
    if (running) return;
    let seq = 0;
    const loop = async () => {
      while (!stopping) {
        const n = ++seq;
        const body = JSON.stringify({ amount: 1500, currency: 'TWD', reference: `calls-bench-${n}`, description: 'Bench purchase', return_url: 'https://shop.example/return' });
        const t0 = performance.now();
        let ok = false;
        try {
          const res = await fetch(`${m.url}/v1/payments`, {
            method: 'POST', body, signal: AbortSignal.timeout(30_000),
            headers: { authorization: `Bearer ${m.apiKey}`, 'content-type': 'application/json', 'idempotency-key': `calls-bench-${process.pid}-${n}` },
          });
          const text = await res.text();
          ok = res.status === 201;
          if (!ok) firstError ??= `HTTP ${res.status}: ${text.slice(0, 200)}`;
        } catch (e) {
          firstError ??= String(e);
          await sleep(50); // a refused connection must not spin
        }
        requests++;
        if (!ok) errors++;
        if (latencies.length < 1_000_000) latencies.push(performance.now() - t0);
      }
    };
    running = Promise.all(Array.from({ length: m.clients }, loop)).then(() => {});
  });
  send({ ev: 'ready' });
}

export interface LoadGen {
  child: ChildProcess;
  go(url: string, apiKey: string, clients: number): void;
  stop(): Promise<Extract<FromLoad, { ev: 'done' }> | null>;
}

/** A round's HTTP load: the generator, the daemon it targets, and the daemon's count of answers. */
export interface HttpLoad { gen: LoadGen; url: string; apiKey: string; counter: HttpCounter }

export function spawnLoadGen(limitMs: number): Promise<LoadGen> {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', BENCH_CALLS_ROLE: 'load', BENCH_CALLS_LOAD_LIMIT_MS: String(limitMs) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child); // registered first: cleanup stops it even if it never gets ready
  let done: ((m: Extract<FromLoad, { ev: 'done' }>) => void) | null = null;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('load generator not ready within 30 s')), 30_000);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`load generator exited (${code ?? sig}) before it was ready`));
    });
    child.on('message', (m: FromLoad) => {
      if (m.ev === 'done') done?.(m);
      if (m.ev !== 'ready') return;
      clearTimeout(timer);
      resolve({
        child,
        go: (url, apiKey, clients) => child.send({ op: 'go', url, apiKey, clients } satisfies ToLoad),
        stop: () => {
          const result = new Promise<Extract<FromLoad, { ev: 'done' }>>((r) => (done = r));
          if (child.connected) child.send({ op: 'stop' } satisfies ToLoad);
          return within(result, 40_000, null);
        },
      });
    });
  });
}
