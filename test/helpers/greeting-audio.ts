import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { encode } from '../../src/telephony/media/g711.js';
import { buildRtp } from '../../src/telephony/media/rtp.js';
import { ethernetIpv4Udp, pcapFile } from './pcap.js';
import { random } from './random.js';

/**
 * Synthetic far-end audio for the voicemail guard (8 kHz linear PCM): speech-like noise (band-limited
 * noise in syllables with rise-and-fall envelopes), tones, silence; a G.711 pcap of it for sipp's
 * `play_pcap_audio`; and a test-owned RTP phone that sends it and records what callpay sends back.
 */

const RATE = 8000;
const FRAME = 160;

export const silence = (ms: number): Int16Array => new Int16Array(Math.round((ms * RATE) / 1000));

export function tone(hz: number, ms: number, amplitude = 8000): Int16Array {
  return Int16Array.from({ length: Math.round((ms * RATE) / 1000) }, (_, n) => Math.round(amplitude * Math.sin((2 * Math.PI * hz * n) / RATE)));
}

/** Two tones at once (a DTMF key: 697 + 1209 Hz is "1"). */
export function dualTone(low: number, high: number, ms: number, amplitude = 6000): Int16Array {
  const a = tone(low, ms, amplitude);
  const b = tone(high, ms, amplitude);
  return a.map((v, i) => v + b[i]!);
}

/**
 * `ms` of talk: syllables of 120–260 ms of noise band-limited to ≈ 300–3000 Hz under a raised-sine
 * envelope, separated by gaps of `gapMs` (min, max). Deterministic per seed.
 */
export function speechLike(ms: number, seed = 1, gapMs: [number, number] = [30, 150], amplitude = 9000): Int16Array {
  const rnd = random(seed);
  const out = new Int16Array(Math.round((ms * RATE) / 1000));
  let low = 0;
  let high = 0;
  let prev = 0;
  for (let at = 0; at < out.length; ) {
    const syllable = ((120 + rnd(141)) * RATE) / 1000;
    const level = amplitude * (0.6 + rnd(41) / 100);
    for (let n = 0; n < syllable && at < out.length; n++, at++) {
      const white = rnd(65536) - 32768;
      low += 0.5 * (white - low); // one-pole low-pass, ≈ 900 Hz (gentle: energy up to ≈ 3 kHz)
      high = 0.79 * (high + low - prev); // high-pass ≈ 300 Hz
      prev = low;
      out[at] = Math.max(-32768, Math.min(32767, Math.round(((level * high) / 20000) * Math.sin((Math.PI * n) / syllable))));
    }
    at += Math.round(((gapMs[0] + rnd(gapMs[1] - gapMs[0] + 1)) * RATE) / 1000);
  }
  return out;
}

const DTMF_ROWS = ['123A', '456B', '789C', '*0#D'];

/** Keys as in-band DTMF tone pairs, `toneMs` each with `gapMs` of silence after. */
export function dtmfTones(keys: string, toneMs = 100, gapMs = 150): Int16Array {
  return concat(...[...keys].map((k) => {
    const row = DTMF_ROWS.findIndex((r) => r.includes(k));
    if (row < 0) throw new RangeError(`not a DTMF key: ${k}`);
    return concat(dualTone([697, 770, 852, 941][row]!, [1209, 1336, 1477, 1633][DTMF_ROWS[row]!.indexOf(k)]!, toneMs), silence(gapMs));
  }));
}

export function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Writes the audio as one PCMU RTP stream in 20 ms packets (see pcap.ts for how sipp replays it). */
export function writeAudioPcap(path: string, pcm: Int16Array): { durationMs: number } {
  const frames = Math.ceil(pcm.length / FRAME);
  const audio = encode('PCMU', concat(pcm, new Int16Array(frames * FRAME - pcm.length)));
  const packets = Array.from({ length: frames }, (_, i) => {
    const rtp = buildRtp({ marker: i === 0, payloadType: 0, sequence: (3000 + i) & 0xffff, timestamp: 640_000 + i * FRAME, ssrc: 0x5eed0003 }, audio.subarray(i * FRAME, (i + 1) * FRAME));
    return { atMs: i * 20, frame: ethernetIpv4Udp('127.0.0.2', '127.0.0.1', 40_000, 40_002, i + 1, rtp) };
  });
  writeFileSync(path, pcapFile(packets, 1_700_000_000));
  return { durationMs: frames * 20 };
}

export interface AudioPhone {
  port: number;
  /** PCMU payloads callpay sent, in arrival order. */
  received: Buffer[];
  /** Sends the audio to where callpay's RTP comes from, one 20 ms packet per 20 ms; resolves when sent. */
  play(pcm: Int16Array): Promise<void>;
  close(): Promise<void>;
}

/** The media side of a sipp phone (answer-capture.xml's rtp_port): talks first, records callpay. */
export async function openAudioPhone(): Promise<AudioPhone> {
  const socket: Socket = createSocket('udp4');
  const received: Buffer[] = [];
  let peer: { address: string; port: number } | null = null;
  let peerKnown: () => void = () => {};
  const known = new Promise<void>((r) => (peerKnown = r));
  socket.on('message', (msg, rinfo) => {
    if (msg.length < 12 || (msg[1]! & 0x7f) !== 0) return;
    peer ??= { address: rinfo.address, port: rinfo.port };
    peerKnown();
    received.push(msg.subarray(12 + (msg[0]! & 0x0f) * 4));
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    port: (socket.address() as AddressInfo).port,
    received,
    async play(pcm) {
      await known;
      const audio = encode('PCMU', pcm);
      const frames = Math.floor(audio.length / FRAME);
      const start = performance.now();
      for (let i = 0; i < frames; i++) {
        const rtp = buildRtp({ marker: i === 0, payloadType: 0, sequence: (7000 + i) & 0xffff, timestamp: 90_000 + i * FRAME, ssrc: 0x0a0d10 }, audio.subarray(i * FRAME, (i + 1) * FRAME));
        socket.send(rtp, peer!.port, peer!.address);
        // Paced to the media clock (a real phone's 20 ms), not a wait for something to happen.
        const due = start + (i + 1) * 20;
        await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
      }
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
