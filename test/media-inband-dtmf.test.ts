import { createSocket, type Socket } from 'node:dgram';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { DTMF_EVENTS, telephoneEventPayload } from '../src/telephony/media/dtmf.js';
import { encode } from '../src/telephony/media/g711.js';
import { DigitCollector } from '../src/telephony/media/collector.js';
import { buildRtp } from '../src/telephony/media/rtp.js';
import { createMediaEngine, type MediaEngine } from '../src/telephony/media/session.js';
import type { InbandDtmfMode } from '../src/telephony/media/inband-dtmf.js';
import { freeRtpPortRange } from './helpers/rtp-phone.js';

const log = createLogger({ level: 'silent' });
const LOW = [697, 770, 852, 941];
const HIGH = [1209, 1336, 1477, 1633];
const KEYS = ['123A', '456B', '789C', '*0#D'];

/** 8 kHz samples of `digit`'s tone pair (−10 dBm0 each), or silence for null. */
function tone(digit: string | null, ms: number, start: number): Int16Array {
  const out = new Int16Array((ms * 8000) / 1000);
  if (digit === null) return out;
  const row = KEYS.findIndex((r) => r.includes(digit));
  const fl = LOW[row]!;
  const fh = HIGH[KEYS[row]!.indexOf(digit)]!;
  for (let i = 0; i < out.length; i++) {
    const n = start + i;
    out[i] = Math.round(7200 * (Math.sin((2 * Math.PI * fl * n) / 8000) + Math.sin((2 * Math.PI * fh * n) / 8000)));
  }
  return out;
}

/**
 * A phone on the line: sends PCMU audio in 20 ms packets, at real pace, carrying each key as 100 ms of
 * tones then 100 ms of silence; with `events` it also sends each key as RFC 4733 events, as gateways
 * that leave the tones in the audio do.
 */
async function keyAsTones(socket: Socket, to: number, keys: string, events: boolean): Promise<void> {
  let seq = 1;
  let ts = 1000;
  const frame = (payloadType: number, timestamp: number, payload: Uint8Array, marker = false) =>
    socket.send(buildRtp({ marker, payloadType, sequence: seq++ & 0xffff, timestamp, ssrc: 4242 }, payload), to, '127.0.0.1');
  const pause = () => new Promise((r) => setTimeout(r, 20));
  for (let n = 0; n < 10; n++, ts += 160) {
    frame(0, ts, encode('PCMU', tone(null, 20, 0)));
    await pause();
  }
  for (const key of keys) {
    const eventTs = ts;
    for (let n = 0; n < 10; n++, ts += 160) {
      const on = n < 5;
      frame(0, ts, encode('PCMU', tone(on ? key : null, 20, n * 160)));
      if (events && n < 5) {
        const end = n === 4;
        for (let r = 0; r < (end ? 3 : 1); r++) frame(101, eventTs, telephoneEventPayload(DTMF_EVENTS.indexOf(key), end, 10, 160 * (n + 1)), n === 0);
      }
      await pause();
    }
  }
}

let engine: MediaEngine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

async function call(mode: InbandDtmfMode | undefined, telephoneEventPt: number | null, keys: string, events: boolean, firstDigitTimeoutMs = 5000): Promise<string> {
  engine = createMediaEngine({ bindHost: '127.0.0.1', ...(await freeRtpPortRange(4)), log, ...(mode ? { inbandDtmf: mode } : {}) });
  const peer = createSocket('udp4');
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
  const session = await engine.openSession();
  try {
    const collector = new DigitCollector();
    session.onDigit((d) => collector.push(d));
    await session.start({ host: '127.0.0.1', port: peer.address().port, codec: 'PCMU', payloadType: 0, telephoneEventPt });
    const result = collector.collect({ minDigits: 1, maxDigits: 16, terminators: '#', firstDigitTimeoutMs, interDigitTimeoutMs: 1500 });
    await keyAsTones(peer, session.localPort, keys, events);
    const r = await result;
    return r.kind === 'digits' ? r.digits : r.kind;
  } finally {
    await session.close();
    await new Promise<void>((r) => peer.close(() => r()));
  }
}

describe('in-band DTMF over RTP', () => {
  it('hears keys keyed as tones when no telephone-event was negotiated', async () => {
    expect(await call(undefined, null, '4711#', false)).toBe('4711');
  });

  it('counts a key sent both as RFC 4733 events and as tones once (inbandDtmf always)', async () => {
    expect(await call('always', 101, '2580#', true)).toBe('2580');
  });

  it('ignores tones when telephone-event was negotiated (auto) or inbandDtmf is never', async () => {
    expect(await call('auto', 101, '12#', false, 1200)).toBe('no_input');
    expect(await call('never', null, '12#', false, 1200)).toBe('no_input');
  });

  it('hears no digit in the echo of its own announcement', async () => {
    engine = createMediaEngine({ bindHost: '127.0.0.1', ...(await freeRtpPortRange(4)), log });
    const peer = createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
    const session = await engine.openSession();
    try {
      const digits: string[] = [];
      session.onDigit((d) => digits.push(d));
      // The phone sends back every frame it is sent, as a line with strong echo would.
      peer.on('message', (msg) => peer.send(msg, session.localPort, '127.0.0.1'));
      await session.start({ host: '127.0.0.1', port: peer.address().port, codec: 'PCMU', payloadType: 0, telephoneEventPt: null });
      const ivr = ['enter-pin', 'requests-payment-of', 'wrong-pin'].map((n) => `prompts/en-US/ivr/${n}.wav`);
      expect(await session.play(ivr)).toEqual({ kind: 'completed' });
      const st = await session.stats();
      expect(st.received).toBeGreaterThan(100);
      expect(digits).toEqual([]);
    } finally {
      await session.close();
      await new Promise<void>((r) => peer.close(() => r()));
    }
  });
});
