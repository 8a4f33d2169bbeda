import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { createMediaEngine, type MediaEngine, type MediaSession } from '../src/telephony/media/session.js';
import { freeRtpPortRange } from './helpers/rtp-phone.js';
import { waitFor } from './helpers/wait.js';

const CALLS = 300;
const log = createLogger({ level: 'silent' });

let engine: MediaEngine;
beforeAll(async () => {
  // A hundred ports to spare: the engine skips any taken between this check and its bind.
  engine = createMediaEngine({ bindHost: '127.0.0.1', ...(await freeRtpPortRange(CALLS + 100)), log });
});
afterAll(async () => {
  await engine.close();
});

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // the main thread is stuck (think Argon2id on the event loop, a long SQLite query)
  }
}

describe('media worker under load', () => {
  it(`paces ${CALLS} simultaneous streams while the main thread is blocked`, async () => {
    const sink = createSocket('udp4');
    let received = 0;
    sink.on('message', () => received++);
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
    const port = sink.address().port;

    const sessions: MediaSession[] = [];
    for (let i = 0; i < CALLS; i++) sessions.push(await engine.openSession());
    for (const s of sessions) await s.start({ host: '127.0.0.1', port, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101 });
    // Warm-up: every stream sending, 25 frames (0.5 s) each on average; then measure steady state only.
    await waitFor(`${CALLS} streams under way`, async () => (await engine.stats()).sent >= CALLS * 25);
    await engine.stats({ resetIntervals: true });

    busy(1000);
    await new Promise((r) => setTimeout(r, 1000)); // the measured window's other second: a free main thread

    const stats = await engine.stats();
    console.log(`${CALLS} streams, main thread blocked 1 s of 2 s:`, JSON.stringify(stats), `sink received ${received}`);
    await Promise.all(sessions.map((s) => s.close()));
    sink.close();

    expect(stats.sessions).toBe(CALLS);
    // ~2 s × 50 frames/s × 300 streams
    expect(stats.sendIntervalMs.count).toBeGreaterThan(CALLS * 50 * 1.8);
    expect(stats.sendIntervalMs.p50).toBeGreaterThan(18);
    expect(stats.sendIntervalMs.p50).toBeLessThan(22);
    // Pacing on the main thread would show a 1000 ms gap here. The ±2 ms p99 target itself is for
    // the benchmark on a quiet machine: this test shares 2 cores with its own busy loop and whatever
    // else runs (other test files, other people's tests), so only the gross property is asserted.
    expect(stats.sendIntervalMs.max).toBeLessThan(500);
  }, 60_000);
});
