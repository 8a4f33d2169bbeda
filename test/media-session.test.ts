import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { DTMF_EVENTS, telephoneEventPayload } from '../src/telephony/media/dtmf.js';
import { encode } from '../src/telephony/media/g711.js';
import { buildRtp, parseRtp, type RtpHeader } from '../src/telephony/media/rtp.js';
import { createMediaEngine, type MediaEngine, type MediaSession } from '../src/telephony/media/session.js';
import { freeRtpPortRange, holdRtpPortRange } from './helpers/rtp-phone.js';
import { waitFor } from './helpers/wait.js';

const log = createLogger({ level: 'silent' });

function wav(samples: Int16Array): Buffer {
  const b = Buffer.alloc(44 + samples.length * 2);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + samples.length * 2, 4);
  b.write('WAVEfmt ', 8, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(16000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(samples.length * 2, 40);
  samples.forEach((s, i) => b.writeInt16LE(s, 44 + 2 * i));
  return b;
}

/** A clip whose every sample is far from zero, so its G.711 bytes never equal the silence byte. */
const clipSamples = (n: number, seed: number) =>
  Int16Array.from({ length: n }, (_, i) => (i % 2 ? 1 : -1) * (2000 + ((i * 37 + seed * 101) % 9000)));

interface Received {
  at: number;
  header: RtpHeader;
  payload: Uint8Array;
}

/** The phone's side: a plain socket that records what arrives. */
async function phone(): Promise<{ socket: Socket; port: number; packets: Received[]; close(): Promise<void> }> {
  const socket = createSocket('udp4');
  const packets: Received[] = [];
  socket.on('message', (msg) => {
    const r = parseRtp(msg);
    if (r.ok) packets.push({ at: performance.now(), header: r.packet.header, payload: Uint8Array.from(r.packet.payload) });
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { socket, port: socket.address().port, packets, close: () => new Promise((r) => socket.close(() => r())) };
}

const PCMA_SILENCE = 0xd5;
const silent = (p: Received) => p.payload.every((b) => b === PCMA_SILENCE);
/** A frame of prompt audio (test clips never encode to the silence byte) is among these. */
const audible = (packets: Received[]) => packets.some((p) => !silent(p));

function sendPress(from: Socket, to: number, digit: string, ts: number, seq: { n: number }): void {
  const ev = DTMF_EVENTS.indexOf(digit);
  const durations: Array<[boolean, number]> = [[false, 160], [false, 560], [false, 960], [true, 1280], [true, 1280], [true, 1280]];
  durations.forEach(([end, d], i) => {
    const pkt = buildRtp({ marker: i === 0, payloadType: 101, sequence: seq.n++, timestamp: ts, ssrc: 777 }, telephoneEventPayload(ev, end, 10, d));
    from.send(pkt, to, '127.0.0.1');
  });
}

let dir: string;
let engine: MediaEngine;
let ports: { portMin: number; portMax: number };
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'callpay-media-'));
  ports = await freeRtpPortRange(8);
  engine = createMediaEngine({ bindHost: '127.0.0.1', ...ports, log });
});
afterEach(async () => {
  await engine.close();
  await rm(dir, { recursive: true, force: true });
});

async function clips(lengths: number[]): Promise<{ paths: string[]; samples: Int16Array[] }> {
  const samples = lengths.map((n, i) => clipSamples(n, i + 1));
  const paths = await Promise.all(
    samples.map(async (s, i) => {
      const p = join(dir, `clip${i}.wav`);
      await writeFile(p, wav(s));
      return p;
    }),
  );
  return { paths, samples };
}

function percentile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

describe('media session over loopback', () => {
  it('streams clips as one continuous, paced RTP stream and receives RFC 4733 digits', async () => {
    const peer = await phone();
    const session = await engine.openSession();
    try {
      expect(session.localPort % 2).toBe(0);
      const { paths, samples } = await clips([250, 333, 170]); // 753 bytes: 4 full frames + 113
      await session.start({ host: '127.0.0.1', port: peer.port, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101 });
      await waitFor('five frames of comfort silence', () => peer.packets.length >= 5); // silence first
      expect(await session.play(paths)).toEqual({ kind: 'completed' });
      // Enough of the stream to measure its pacing: 60 frames, 1.2 s.
      await waitFor('60 frames at the phone', () => peer.packets.length >= 60);

      // Digits: "4411" with its repeated end packets, plus a press from a stranger that must not count.
      const digits: string[] = [];
      session.onDigit((d) => digits.push(d));
      const stranger = createSocket('udp4');
      await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', r));
      const seq = { n: 100 };
      sendPress(stranger, session.localPort, '9', 100, seq);
      for (const [i, d] of [...'4411'].entries()) sendPress(peer.socket, session.localPort, d, 8000 + 1600 * i, seq);
      await waitFor('four digits', () => digits.length >= 4);
      // Every packet sent is handled (24 from the phone, 6 ignored from the stranger); the worker
      // reports digits before it answers a stats request, so no digit can still be on its way.
      await waitFor('all 30 DTMF packets handled', async () => {
        const st = await session.stats();
        return st.received >= 24 && st.ignored >= 6;
      });
      stranger.close();
      expect(digits.join('')).toBe('4411');

      const stats = await session.close();
      const pk = peer.packets;
      expect(pk.length).toBeGreaterThan(50);

      // One stream: same SSRC and payload type, sequence +1 and timestamp +160 throughout, marker on
      // the first packet only. (A machine so loaded that the worker stalls > 80 ms makes the pacer
      // skip ahead: then the timestamp jumps by whole frames, with the marker, once per resync.)
      let skips = 0;
      for (let i = 1; i < pk.length; i++) {
        const [a, b] = [pk[i - 1]!.header, pk[i]!.header];
        expect([b.ssrc, b.payloadType]).toEqual([a.ssrc, 0]);
        expect(b.sequence).toBe((a.sequence + 1) & 0xffff);
        const step = (b.timestamp - a.timestamp) >>> 0;
        if (b.marker) {
          skips++;
          expect(step % 160 === 0 && step > 160).toBe(true);
        } else {
          expect(step).toBe(160);
        }
      }
      expect(pk[0]!.header.marker).toBe(true);
      expect(skips).toBe(stats.resyncs);
      expect(pk.every((p) => p.payload.length === 160)).toBe(true);

      // The prompt: silence, then the three clips back to back with the last frame padded, then silence.
      const start = pk.findIndex((p) => p.payload.some((b) => b !== 0xff));
      expect(start).toBeGreaterThan(2);
      const expected = new Uint8Array(800).fill(0xff);
      expected.set(encode('PCMU', Int16Array.from(samples.flatMap((s) => [...s]))));
      const got = Buffer.concat(pk.slice(start, start + 5).map((p) => p.payload));
      expect(Buffer.compare(got, expected)).toBe(0);
      expect(pk.slice(start + 5).every((p) => p.payload.every((b) => b === 0xff))).toBe(true);

      // Pacing, seen by the receiver: 20 ms frames, no drift over the run.
      const gaps = pk.slice(1).map((p, i) => p.at - pk[i]!.at);
      const frames = ((pk.at(-1)!.header.timestamp - pk[0]!.header.timestamp) >>> 0) / 160;
      const mean = (pk.at(-1)!.at - pk[0]!.at) / frames; // wall time per 20 ms of media: drift shows here
      const recv = { n: gaps.length, mean: +mean.toFixed(3), p50: +percentile(gaps, 0.5).toFixed(2), p99: +percentile(gaps, 0.99).toFixed(2), max: +Math.max(...gaps).toFixed(2) };
      console.log('loopback receive intervals (ms)', recv, 'send intervals (ms)', stats.sendIntervalMs);
      expect(mean).toBeGreaterThan(19.8);
      expect(mean).toBeLessThan(20.2);
      expect(recv.p50).toBeGreaterThan(18);
      expect(recv.p50).toBeLessThan(22);
      expect(stats.sent).toBeGreaterThanOrEqual(pk.length);
      expect(stats.sendIntervalMs.p50).toBeGreaterThan(18);
      expect(stats.sendIntervalMs.p50).toBeLessThan(22);
      expect(stats.digits).toBe(4);
      expect(stats.ignored).toBe(6); // the stranger's six packets, dropped
    } finally {
      await session.close();
      await peer.close();
    }
  });

  it('stops a prompt on a digit (barge-in), on stop(), and ends pending plays on close', async () => {
    const peer = await phone();
    const session = await engine.openSession();
    const { paths } = await clips([8000 * 5]); // 5 s
    await session.start({ host: '127.0.0.1', port: peer.port, codec: 'PCMA', payloadType: 8, telephoneEventPt: 101 });

    const seq = { n: 0 };
    const barged = session.play(paths, { bargeIn: true });
    await waitFor('the prompt at the phone', () => audible(peer.packets));
    sendPress(peer.socket, session.localPort, '5', 1000, seq);
    expect(await barged).toEqual({ kind: 'interrupted', by: 'digit' });
    // Counted in frames, not ms: 4 frames may still be on their way, the 5 after them are looked at.
    const n = peer.packets.length + 4;
    await waitFor('nine more frames at the phone', () => peer.packets.length >= n + 5);
    // Back to A-law silence within a frame of the digit.
    expect(peer.packets.slice(n).every(silent)).toBe(true);

    const digits: string[] = [];
    session.onDigit((d) => digits.push(d));
    let from = peer.packets.length; // only silence so far, checked above
    const notBarged = session.play(paths, { bargeIn: false });
    await waitFor('the second prompt at the phone', () => audible(peer.packets.slice(from)));
    sendPress(peer.socket, session.localPort, '6', 3000, seq);
    await waitFor('the digit 6', () => digits.includes('6'));
    await session.stats(); // a round trip to the worker: a (wrong) barge-in on that digit would have been reported before it
    session.stop();
    expect(await notBarged).toEqual({ kind: 'stopped' });
    // Frames arrive in order: after a silent one, none of the stopped prompt can follow.
    from = peer.packets.length;
    await waitFor('silence after the stopped prompt', () => peer.packets.slice(from).some(silent));
    from = peer.packets.length;

    session.bargeIn(); // nothing playing: no effect
    const pending = session.play(paths);
    await waitFor('the third prompt at the phone', () => audible(peer.packets.slice(from)));
    await session.close();
    expect(await pending).toEqual({ kind: 'hung_up' });
    expect(await session.ended).toBe('closed');
    expect(await session.play(paths)).toEqual({ kind: 'hung_up' });
    await peer.close();
  });

  it('uses even ports from the range, skips busy ones, and reports exhaustion', async () => {
    await engine.close();
    const held = await holdRtpPortRange(2); // both even ports bound here
    const { portMin } = held;
    await held.release(portMin + 2); // the squatter keeps portMin
    engine = createMediaEngine({ bindHost: '127.0.0.1', portMin, portMax: portMin + 3, log });
    const sessions: MediaSession[] = [];
    try {
      sessions.push(await engine.openSession());
      expect(sessions[0]!.localPort).toBe(portMin + 2);
      await expect(engine.openSession()).rejects.toMatchObject({ code: 'ports_exhausted' });
      await held.release(portMin); // closed: the port is free again
      sessions.push(await engine.openSession());
      expect(sessions[1]!.localPort).toBe(portMin);
      await sessions[0]!.close();
      sessions.push(await engine.openSession()); // freed port is reusable
      expect(sessions[2]!.localPort).toBe(portMin + 2);
    } finally {
      for (const s of sessions) await s.close();
      await held.release();
    }
    expect(() => createMediaEngine({ bindHost: '127.0.0.1', portMin: 30001, portMax: 30001, log })).toThrow(
      expect.objectContaining({ code: 'config_invalid' }),
    );
  });

  it('rejects play before start and bad prompt files', async () => {
    const session = await engine.openSession();
    const { paths } = await clips([100]);
    await expect(session.play(paths)).rejects.toMatchObject({ code: 'invalid_state' });
    await session.start({ host: '127.0.0.1', port: 9, codec: 'PCMU', payloadType: 0, telephoneEventPt: null });
    await expect(session.play([join(dir, 'nope.wav')])).rejects.toMatchObject({ code: 'clip_unreadable' });
    await session.close();
  });

  it('reports a lost worker to its sessions and starts a new one for the next call', async () => {
    await engine.close();
    // A stand-in worker that opens sessions and then dies when asked to play.
    const src = `import { parentPort } from 'node:worker_threads';
      parentPort.postMessage({ ev: 'ready' });
      parentPort.on('message', (m) => {
        if (m.op === 'open') parentPort.postMessage({ ev: 'opened', sid: m.sid, port: 5000 });
        if (m.op === 'play') throw new Error('boom');
      });`;
    engine = createMediaEngine({ bindHost: '127.0.0.1', ...ports, log, workerUrl: new URL(`data:text/javascript,${encodeURIComponent(src)}`) });
    const session = await engine.openSession();
    await session.start({ host: '127.0.0.1', port: 9, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101 });
    const { paths } = await clips([100]);
    expect(await session.play(paths)).toEqual({ kind: 'hung_up' });
    expect(await session.ended).toBe('worker_failed');
    expect((await engine.openSession()).localPort).toBe(5000);
  });
});
