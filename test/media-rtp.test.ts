import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FRAME_BYTES, MAX_CATCH_UP_FRAMES, Pacer, Playout } from '../src/telephony/media/playout.js';
import { buildRtp, parseRtp, RtpSender } from '../src/telephony/media/rtp.js';

const header = { marker: false, payloadType: 0, sequence: 1, timestamp: 2, ssrc: 3 };

describe('RTP header', () => {
  it('round-trips every field', () => {
    const payload = Uint8Array.of(1, 2, 3, 4, 5);
    const ext = { profile: 0xbede, data: Uint8Array.of(9, 9, 9, 9, 8, 8, 8, 8) };
    const pkt = buildRtp(
      { marker: true, payloadType: 101, sequence: 0xfffe, timestamp: 0xfffffff0, ssrc: 0xdeadbeef, csrcs: [7, 0xffffffff], extension: ext, paddingBytes: 3 },
      payload,
    );
    const r = parseRtp(pkt);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.packet.header).toMatchObject({
      padding: true,
      marker: true,
      payloadType: 101,
      sequence: 0xfffe,
      timestamp: 0xfffffff0,
      ssrc: 0xdeadbeef,
      csrcs: [7, 0xffffffff],
    });
    expect([...r.packet.header.extension!.data]).toEqual([...ext.data]);
    expect(r.packet.header.extension!.profile).toBe(0xbede);
    expect([...r.packet.payload]).toEqual([...payload]);
  });

  it('turns hostile input into typed failures', () => {
    const good = buildRtp(header, Uint8Array.of(1, 2, 3, 4));
    const with0 = (i: number, v: number) => {
      const b = Buffer.from(good);
      b[i] = v;
      return b;
    };
    expect(parseRtp(good.subarray(0, 11))).toEqual({ ok: false, reason: 'too_short' });
    expect(parseRtp(new Uint8Array(0))).toEqual({ ok: false, reason: 'too_short' });
    expect(parseRtp(with0(0, 0x40))).toEqual({ ok: false, reason: 'bad_version' });
    expect(parseRtp(with0(0, 0x8f))).toEqual({ ok: false, reason: 'csrc_beyond_end' }); // 15 CSRCs in 16 bytes
    expect(parseRtp(with0(0, 0x90))).toEqual({ ok: false, reason: 'extension_beyond_end' }); // payload read as extension of 0x0304 words
    const zeroPad = Buffer.concat([with0(0, 0xa0), Buffer.of(0)]);
    expect(parseRtp(zeroPad)).toEqual({ ok: false, reason: 'bad_padding' });
    const hugePad = Buffer.concat([with0(0, 0xa0), Buffer.of(200)]);
    expect(parseRtp(hugePad)).toEqual({ ok: false, reason: 'bad_padding' });
  });

  it('never throws on random bytes', () => {
    for (let i = 0; i < 20_000; i++) {
      const b = randomBytes(Math.floor(Math.random() * 64));
      if (b.length > 0 && i % 2 === 0) b[0] = 0x80 | (b[0]! & 0x3f); // half of them claim version 2
      const r = parseRtp(b);
      if (r.ok) expect(r.packet.payload.length).toBeLessThanOrEqual(b.length - 12);
    }
  });
});

describe('RTP sender', () => {
  it('starts at random values, marks the first packet, wraps sequence and timestamp', () => {
    const a = new RtpSender({ payloadType: 0 });
    const b = new RtpSender({ payloadType: 0 });
    expect([a.ssrc, a.nextSequence, a.nextTimestamp]).not.toEqual([b.ssrc, b.nextSequence, b.nextTimestamp]);

    const s = new RtpSender({ payloadType: 8, ssrc: 42, sequence: 0xfffe, timestamp: 0xffffff00 });
    const hs = [0, 1, 2].map(() => parseRtp(s.next(new Uint8Array(160), 160))).map((r) => (r.ok ? r.packet.header : null));
    expect(hs.map((h) => h?.sequence)).toEqual([0xfffe, 0xffff, 0]);
    expect(hs.map((h) => h?.timestamp)).toEqual([0xffffff00, 0xffffffa0, 0x40]);
    expect(hs.map((h) => h?.marker)).toEqual([true, false, false]);
    expect(hs.map((h) => h?.payloadType)).toEqual([8, 8, 8]);
    expect(hs.map((h) => h?.ssrc)).toEqual([42, 42, 42]);

    s.skip(160 * 5); // frames never sent: timestamp jumps, sequence does not, marker set
    const r = parseRtp(s.next(new Uint8Array(160), 160));
    expect(r.ok && [r.packet.header.sequence, r.packet.header.timestamp, r.packet.header.marker]).toEqual([1, 0x40 + 160 * 6, true]);
  });
});

describe('playout', () => {
  const clip = (n: number, v: number) => new Uint8Array(n).fill(v);

  it('plays clips back to back inside frames and pads only the last frame with silence', () => {
    const p = new Playout(0xff);
    p.enqueue({ id: 1, clips: [clip(100, 1), clip(150, 2)], bargeIn: false });
    p.enqueue({ id: 2, clips: [clip(80, 3)], bargeIn: false });
    const out = new Uint8Array(FRAME_BYTES);
    const frames: number[][] = [];
    const done: number[][] = [];
    for (let i = 0; i < 3; i++) {
      done.push(p.nextFrame(out).map((j) => j.id));
      frames.push([...out]);
    }
    const all = frames.flat();
    expect(all.slice(0, 100).every((b) => b === 1)).toBe(true);
    expect(all.slice(100, 250).every((b) => b === 2)).toBe(true);
    expect(all.slice(250, 330).every((b) => b === 3)).toBe(true);
    expect(all.slice(330).every((b) => b === 0xff)).toBe(true);
    expect(done).toEqual([[], [1], [2]]);
  });

  it('finishes a job ending exactly on a frame boundary with that frame', () => {
    const p = new Playout(0xd5);
    p.enqueue({ id: 7, clips: [clip(160, 1)], bargeIn: true });
    expect(p.nextFrame(new Uint8Array(FRAME_BYTES)).map((j) => j.id)).toEqual([7]);
    expect(p.current).toBeUndefined();
  });

  it('drops the current job on barge-in and everything on stop', () => {
    const p = new Playout(0xff);
    p.enqueue({ id: 1, clips: [clip(1000, 1)], bargeIn: true });
    p.enqueue({ id: 2, clips: [clip(1000, 2)], bargeIn: false });
    const out = new Uint8Array(FRAME_BYTES);
    p.nextFrame(out);
    expect(p.dropCurrent()?.id).toBe(1);
    p.nextFrame(out);
    expect(out.every((b) => b === 2)).toBe(true);
    expect(p.clear().map((j) => j.id)).toEqual([2]);
    p.nextFrame(out);
    expect(out.every((b) => b === 0xff)).toBe(true);
  });
});

describe('pacer', () => {
  it('schedules frame n at t0 + 20n whatever the wake-up lateness', () => {
    const pacer = new Pacer(1000, 0.5);
    expect(pacer.poll(1000)).toEqual({ send: 1, skipped: 0 });
    expect(pacer.poll(1019)).toEqual({ send: 0, skipped: 0 });
    expect(pacer.poll(1023.9)).toEqual({ send: 1, skipped: 0 }); // frame 1 sent 3.9 ms late...
    expect(pacer.nextDue).toBe(1040); // ...and frame 2 is still due at 1040: no drift
    expect(pacer.poll(1079.6)).toEqual({ send: 3, skipped: 0 }); // frames 2, 3 and 4 (4 is 0.4 ms early)
  });

  it('skips ahead instead of bursting when far behind', () => {
    const pacer = new Pacer(0, 0.5);
    pacer.poll(0);
    expect(pacer.poll(20 + 20 * MAX_CATCH_UP_FRAMES + 5)).toEqual({ send: MAX_CATCH_UP_FRAMES + 1, skipped: 0 });
    const at = pacer.nextDue + 20 * 50 + 3; // 50 frames behind
    const r = pacer.poll(at);
    expect(r).toEqual({ send: 1, skipped: 50 });
    expect(pacer.nextDue).toBeGreaterThan(at);
  });
});
