import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * A short run of each benchmark (BENCHMARKS.md has the long ones): the bench scripts start, drive
 * real peers (sipp, the RTP sink, `callpay serve`), report their tables and exit 0. Figures are not
 * checked here: this machine is shared and timing belongs to the benches, not to tests. What is
 * checked is that a bench still runs end to end and still prints what BENCHMARKS.md quotes.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

function runBench(args: string[], limitMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['tsx', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
      reject(new Error(`${args.join(' ')}: no exit within ${limitMs} ms\n${out.slice(-4000)}`));
    }, limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('benchmarks: a short run of each', () => {
  it('bench/calls: 20 calls, calls only and under HTTP load, with the phone-side sink', async () => {
    const r = await runBench(['bench/calls/main.ts', '--calls', '20', '--rate', '20', '--hold-s', '6', '--clients', '4'], 120_000);
    expect(r.code, r.out.slice(-4000)).toBe(0);
    expect(r.out).toMatch(/\| calls only +\| +20 \| +20 \|/);
    expect(r.out).toMatch(/\| calls \+ HTTP load +\| +20 \| +20 \|/);
    expect(r.out).toMatch(/phone p99 ms/);
    expect(r.out).toMatch(/0 lost of \d+/);
  }, 150_000);

  it('bench/intake.ts: callpay serve against the bare baseline, one round', async () => {
    const r = await runBench(['bench/intake.ts', '--clients', '4', '--requests', '300', '--rounds', '1'], 120_000);
    expect(r.code, r.out.slice(-4000)).toBe(0);
    expect(r.out).toMatch(/baseline/i);
    expect(r.out).toMatch(/req\/s/);
  }, 150_000);

  it('bench/invite-latency.ts: merchant request → INVITE at a loopback phone', async () => {
    const r = await runBench(['bench/invite-latency.ts', '--rate', '20', '--seconds', '2', '--runs', '1', '--consumers', '2'], 120_000);
    expect(r.code, r.out.slice(-4000)).toBe(0);
    expect(r.out).toMatch(/p99/);
    expect(r.out).toMatch(/bare baseline .* 201 p50 [\d.]+ ms, p99 [\d.]+ ms/);
  }, 150_000);
});
