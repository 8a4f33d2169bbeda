import { describe, expect, it } from 'vitest';
import { DTMF_EVENTS, DtmfReceiver, telephoneEventPayload, type Endpoint } from '../src/telephony/media/dtmf.js';
import { buildRtp } from '../src/telephony/media/rtp.js';

const PEER: Endpoint = { address: '127.0.0.1', port: 40000 };
const TE = 101;

function fakeLog() {
  const lines: Array<{ level: string; msg: string }> = [];
  return {
    lines,
    warn: (_: object, msg: string) => lines.push({ level: 'warn', msg }),
    debug: (_: object, msg: string) => lines.push({ level: 'debug', msg }),
  };
}

/** The packets of one key press as a phone sends them (RFC 4733 §2.5): start, updates, 3 × end. */
function press(digit: string, ts: number, seq: { n: number }, opts: { ssrc?: number; updates?: number; pt?: number } = {}) {
  const event = DTMF_EVENTS.indexOf(digit);
  const mk = (marker: boolean, end: boolean, duration: number, ev = event) =>
    buildRtp({ marker, payloadType: opts.pt ?? TE, sequence: seq.n++ & 0xffff, timestamp: ts, ssrc: opts.ssrc ?? 1234 }, telephoneEventPayload(ev, end, 10, duration));
  const packets = [mk(true, false, 160)];
  for (let i = 1; i <= (opts.updates ?? 3); i++) packets.push(mk(false, false, 160 + 400 * i));
  const final = 160 + 400 * ((opts.updates ?? 3) + 1);
  packets.push(mk(false, true, final), mk(false, true, final), mk(false, true, final));
  return packets;
}

function digitsOf(rx: DtmfReceiver, packets: Uint8Array[], from: Endpoint = PEER): string {
  return packets
    .map((p) => rx.receive(p, from))
    .map((r) => (r.kind === 'digit' ? r.digit : ''))
    .join('');
}

const receiver = (log = fakeLog()) => new DtmfReceiver({ remote: PEER, audioPayloadType: 0, telephoneEventPt: TE, log });

describe('RFC 4733 receiver', () => {
  it('counts "4411" as 4, 4, 1, 1 despite the repeated end packets', () => {
    const seq = { n: 65530 }; // sequence wraps along the way
    const packets = [...press('4', 8000, seq), ...press('4', 9600, seq), ...press('1', 11200, seq), ...press('1', 12800, seq)];
    expect(digitsOf(receiver(), packets)).toBe('4411');
  });

  it('maps all 16 events', () => {
    const seq = { n: 0 };
    const packets = [...DTMF_EVENTS].flatMap((d, i) => press(d, 1000 * (i + 1), seq));
    expect(digitsOf(receiver(), packets)).toBe('0123456789*#ABCD');
  });

  it('reports a digit whose start and end packets were lost, once', () => {
    const seq = { n: 0 };
    const only = (ps: Uint8Array[], keep: number[]) => keep.map((i) => ps[i]!);
    const a = press('7', 5000, seq); // [start, u1, u2, u3, end, end, end]
    const b = press('7', 7000, seq);
    const c = press('8', 9000, seq);
    // 7: start lost; 7 again: all ends lost (next event reveals nothing was missed); 8: only one end.
    expect(digitsOf(receiver(), [...only(a, [1, 2, 4, 5]), ...only(b, [0, 1]), ...only(c, [6])])).toBe('778');
  });

  it('ignores late duplicates of an earlier event', () => {
    const seq = { n: 0 };
    const a = press('5', 5000, seq);
    const b = press('6', 7000, seq);
    expect(digitsOf(receiver(), [...a.slice(0, 5), ...b.slice(0, 3), a[5]!, a[6]!, ...b.slice(3)])).toBe('56');
  });

  it('counts the segments of one very long press once (RFC 4733 §2.5.1.3)', () => {
    const seq = { n: 0 };
    const pkt = (ts: number, marker: boolean, end: boolean, duration: number, ev = 9) =>
      buildRtp({ marker, payloadType: TE, sequence: seq.n++, timestamp: ts, ssrc: 1 }, telephoneEventPayload(ev, end, 10, duration));
    const packets = [pkt(1000, true, false, 400), pkt(1000, false, false, 0xffff), pkt(1000 + 0xffff, false, false, 400), pkt(1000 + 0xffff, false, true, 2000)];
    expect(digitsOf(receiver(), packets)).toBe('9');
    // ...but a new press of the same key (marker set) after a complete event is a new digit.
    expect(digitsOf(receiver(), [...packets, pkt(90000, true, false, 400)])).toBe('99');
  });

  it('ignores out-of-range events, truncated payloads, other payload types and other sources', () => {
    const log = fakeLog();
    const rx = receiver(log);
    const seq = { n: 0 };
    const flash = buildRtp({ marker: true, payloadType: TE, sequence: seq.n++, timestamp: 100, ssrc: 1 }, telephoneEventPayload(16, false, 10, 160));
    const tone = buildRtp({ marker: true, payloadType: TE, sequence: seq.n++, timestamp: 200, ssrc: 1 }, telephoneEventPayload(255, true, 10, 160));
    const truncated = buildRtp({ marker: true, payloadType: TE, sequence: seq.n++, timestamp: 300, ssrc: 1 }, Uint8Array.of(4, 0x80, 0));
    expect([flash, tone, truncated].map((p) => rx.receive(p, PEER))).toEqual([
      { kind: 'ignored', reason: 'event_code' },
      { kind: 'ignored', reason: 'event_code' },
      { kind: 'ignored', reason: 'truncated_event' },
    ]);
    expect(digitsOf(rx, press('3', 400, seq, { pt: 96 }))).toBe('');
    expect(digitsOf(rx, press('3', 500, seq), { address: '127.0.0.2', port: PEER.port })).toBe('');
    expect(digitsOf(rx, press('3', 600, seq), { address: PEER.address, port: PEER.port + 2 })).toBe('');
    expect(digitsOf(rx, [Uint8Array.of(1, 2, 3)])).toBe('');
    expect(rx.receive(buildRtp({ marker: false, payloadType: 0, sequence: 1, timestamp: 1, ssrc: 1 }, new Uint8Array(160)), PEER)).toEqual({ kind: 'audio' });
    expect(rx.ignored).toMatchObject({ event_code: 2, truncated_event: 1, payload_type: 7, source: 14, malformed: 1 });
    // Warnings once per reason, not once per packet.
    expect(log.lines.filter((l) => l.level === 'warn').length).toBe(2);
    // The receiver still works afterwards, and an IPv4-mapped source address is the same peer.
    expect(digitsOf(rx, press('3', 700, seq), { address: '::ffff:127.0.0.1', port: PEER.port })).toBe('3');
  });

  it('treats telephone-event as unnegotiated when the peer did not offer it', () => {
    const rx = new DtmfReceiver({ remote: PEER, audioPayloadType: 8, telephoneEventPt: null, log: fakeLog() });
    expect(digitsOf(rx, press('1', 100, { n: 0 }))).toBe('');
  });
});
