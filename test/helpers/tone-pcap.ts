import { writeFileSync } from 'node:fs';
import { encode } from '../../src/telephony/media/g711.js';
import { ethernetIpv4Udp, pcapFile, TELEPHONE_EVENT_CODES } from './pcap.js';

/**
 * In-band DTMF fixtures for sipp's `play_pcap_audio`: one G.711 stream (PCMU or PCMA) in 20 ms packets whose audio
 * carries each key as its DTMF tone pair (−10 dBm0 per tone), optionally with speech before and under
 * the keys, and optionally with each key also sent as RFC 4733 events (as gateways that leave the tones
 * in the audio do). See pcap.ts for how sipp replays it.
 */
export interface TonePcapOptions {
  digits: string;
  /** Silence (or speech) before the first key. Default 1500 ms. */
  leadMs?: number;
  toneMs?: number;
  gapMs?: number;
  /** 8 kHz speech (looped, e.g. a prompt clip) filling the lead and the gaps between keys: talk, then keys. */
  speech?: Int16Array;
  /** Also send each key as RFC 4733 events with this payload type. */
  eventPayloadType?: number;
  /** Speech also goes on under the keys, this many dB below its own level (a caller who talks while keying). */
  speechUnderTonesDb?: number;
  /** The line's codec; default PCMU (payload type 0), PCMA is payload type 8. */
  codec?: 'PCMU' | 'PCMA';
}

const LOW = [697, 770, 852, 941];
const HIGH = [1209, 1336, 1477, 1633];
const KEYS = ['123A', '456B', '789C', '*0#D'];
const AMP = 7200;
const FRAME = 160;

export function writeTonePcap(path: string, o: TonePcapOptions): { durationMs: number } {
  const lead = ((o.leadMs ?? 1500) * 8) | 0;
  const tone = ((o.toneMs ?? 100) * 8) | 0;
  const gap = ((o.gapMs ?? 150) * 8) | 0;
  const total = Math.ceil((lead + o.digits.length * (tone + gap)) / FRAME) * FRAME;
  const pcm = new Float64Array(total);
  const keyStarts: number[] = [];
  const toneAt = new Uint8Array(total);
  [...o.digits].forEach((d, i) => {
    const row = KEYS.findIndex((r) => r.includes(d.toUpperCase()));
    if (row < 0) throw new RangeError(`not a DTMF key: ${d}`);
    const fl = LOW[row]!;
    const fh = HIGH[KEYS[row]!.indexOf(d.toUpperCase())]!;
    const at = lead + i * (tone + gap);
    keyStarts.push(at);
    toneAt.fill(1, at, at + tone);
    for (let n = 0; n < tone; n++) pcm[at + n] = AMP * (Math.sin((2 * Math.PI * fl * n) / 8000) + Math.sin((2 * Math.PI * fh * n) / 8000));
  });
  const under = o.speechUnderTonesDb === undefined ? 0 : 10 ** (-o.speechUnderTonesDb / 20);
  if (o.speech?.length) for (let n = 0; n < total; n++) pcm[n]! += o.speech[n % o.speech.length]! * (toneAt[n] ? under : 1);
  const samples = Int16Array.from(pcm, (v) => Math.max(-32768, Math.min(32767, Math.round(v))));
  const codec = o.codec ?? 'PCMU';
  const audioPt = codec === 'PCMA' ? 8 : 0;
  const audio = encode(codec, samples);

  const ssrc = 0x5eed0002;
  let seq = 2000;
  const ts0 = 320_000;
  const packets: { atMs: number; rtp: Buffer }[] = [];
  const rtp = (marker: boolean, pt: number, ts: number, payload: Uint8Array) => {
    const h = Buffer.alloc(12);
    h[0] = 0x80;
    h[1] = (marker ? 0x80 : 0) | pt;
    h.writeUInt16BE(seq++ & 0xffff, 2);
    h.writeUInt32BE((ts0 + ts) >>> 0, 4);
    h.writeUInt32BE(ssrc, 8);
    return Buffer.concat([h, payload]);
  };
  for (let at = 0; at < total; at += FRAME) {
    packets.push({ atMs: at / 8, rtp: rtp(at === 0, audioPt, at, audio.subarray(at, at + FRAME)) });
    if (o.eventPayloadType === undefined) continue;
    keyStarts.forEach((start, i) => {
      if (at < start || at >= start + tone) return;
      const code = TELEPHONE_EVENT_CODES[o.digits[i]!.toUpperCase()]!;
      const duration = at + FRAME - start;
      const end = at + FRAME >= start + tone;
      const ev = Buffer.from([code, (end ? 0x80 : 0) | 10, (duration >> 8) & 0xff, duration & 0xff]);
      for (let r = 0; r < (end ? 3 : 1); r++) packets.push({ atMs: at / 8, rtp: rtp(at === start && r === 0, o.eventPayloadType!, start, ev) });
    });
  }
  const frames = packets.map((p, i) => ({ atMs: p.atMs, frame: ethernetIpv4Udp('127.0.0.2', '127.0.0.1', 40_000, 40_002, i + 1, p.rtp) }));
  writeFileSync(path, pcapFile(frames, 1_700_000_000));
  return { durationMs: total / 8 };
}
