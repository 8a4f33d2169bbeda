import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  buildDtmfPcap, dtmfDigits, parseEthernetUdp, parseRtp, parseTelephoneEvent, readPcap, writeDtmfPcap,
  type RtpPacket,
} from './helpers/pcap.js';
import { boundBy, parseSipTrace, startSipp, type Sipp, type StartSippOptions } from './helpers/sipp.js';

// The sipp scenarios in sip/ and the pcaps they play, proven against a real peer (a second sipp
// acting as callpay, and sockets this test owns), without callpay's own SIP stack.

describe('writeDtmfPcap: RFC 4733 digit strings for play_pcap_audio', () => {
  const rtpOf = (file: Buffer) => readPcap(file).records.map((r) => parseRtp(parseEthernetUdp(r.frame).payload));

  it('writes a classic libpcap file of Ethernet/IPv4/UDP frames that parses back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'callpay-pcap-'));
    try {
      const path = join(dir, '4411.pcap');
      const info = writeDtmfPcap(path, { digits: '4411', payloadType: 101, srcPort: 4000, dstPort: 5000 });
      const pcap = readPcap(readFileSync(path));
      expect(readFileSync(path).readUInt32LE(0)).toBe(0xa1b2c3d4);
      expect(pcap).toMatchObject({ linkType: 1, version: '2.4', snapLength: 65535 });
      expect(pcap.records).toHaveLength(info.packets);
      for (const r of pcap.records) {
        expect(r.originalLength).toBe(r.frame.length); // sipp refuses truncated captures
        const udp = parseEthernetUdp(r.frame);
        expect(udp).toMatchObject({ srcPort: 4000, dstPort: 5000, ipChecksumOk: true, udpChecksumOk: true });
        expect(udp.payload.length).toBe(16); // RTP header + one telephone-event
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sends "4411" as one stream: 4 events, markers, growing durations, 3 end packets, distinct timestamps', () => {
    const { file, info } = buildDtmfPcap({ digits: '4411', payloadType: 101, ssrc: 0x11223344, toneMs: 100, gapMs: 100 });
    const records = readPcap(file).records;
    const rtp = rtpOf(file);
    expect(dtmfDigits(rtp, 101)).toBe('4411');
    expect(info.events.map((e) => e.digit).join('')).toBe('4411');
    expect(new Set(rtp.map((p) => p.ssrc))).toEqual(new Set([0x11223344]));
    expect(rtp.every((p) => p.version === 2 && p.payloadType === 101)).toBe(true);
    rtp.forEach((p, i) => i > 0 && expect(p.sequence).toBe((rtp[i - 1]!.sequence + 1) & 0xffff));

    const byEvent = new Map<number, RtpPacket[]>();
    for (const p of rtp) byEvent.set(p.timestamp, [...(byEvent.get(p.timestamp) ?? []), p]);
    expect(byEvent.size).toBe(4); // the two 4s and the two 1s are separate events
    for (const packets of byEvent.values()) {
      const events = packets.map((p) => parseTelephoneEvent(p.payload));
      expect(packets.map((p) => p.marker)).toEqual([true, false, false, false, false, false, false]);
      expect(events.map((e) => e.duration)).toEqual([160, 320, 480, 640, 800, 800, 800]);
      expect(events.map((e) => e.end)).toEqual([false, false, false, false, true, true, true]);
      expect(new Set(events.map((e) => e.volume))).toEqual(new Set([10]));
    }
    // timestamps follow the 8 kHz clock of the capture times: 100 ms tone, 3 x 20 ms, 100 ms gap
    const starts = [...byEvent.keys()];
    expect(starts.slice(1).map((t, i) => t - starts[i]!)).toEqual([1920, 1920, 1920]);
    const times = records.map((r) => r.timeUs - records[0]!.timeUs);
    expect(times.slice(0, 8)).toEqual([0, 20_000, 40_000, 60_000, 80_000, 100_000, 120_000, 240_000]);
    expect(info.durationMs).toBe(840);
  });

  it('takes the negotiated payload type, a PCMU lead-in and gaps in the same stream, and wraps sequence numbers', () => {
    const { file } = buildDtmfPcap({ digits: '1#', payloadType: 96, leadMs: 60, gapMs: 40, silencePayloadType: 0, firstSequence: 65534 });
    const rtp = rtpOf(file);
    expect(rtp.map((p) => p.payloadType)).toEqual([0, 0, 0, ...Array(7).fill(96), 0, 0, ...Array(7).fill(96)]);
    expect(rtp.slice(0, 3).map((p) => p.payload)).toEqual(Array(3).fill(Buffer.alloc(160, 0xff)));
    expect(rtp.slice(0, 4).map((p) => p.sequence)).toEqual([65534, 65535, 0, 1]);
    expect(rtp.map((p) => p.marker).filter(Boolean)).toHaveLength(3); // first audio packet, then each event
    expect(rtp[3]!.timestamp - rtp[0]!.timestamp).toBe(480); // the event starts 60 ms into the stream
    expect(dtmfDigits(rtp, 96)).toBe('1#');
  });

  it('refuses what it cannot encode', () => {
    expect(() => buildDtmfPcap({ digits: '12x' })).toThrow(RangeError);
    expect(() => buildDtmfPcap({ digits: '' })).toThrow(RangeError);
    expect(() => buildDtmfPcap({ digits: '1', payloadType: 128 })).toThrow(RangeError);
    expect(() => buildDtmfPcap({ digits: '1', leadMs: 100 })).toThrow(/silencePayloadType/);
  });
});

describe('sipp scenarios against a real peer', () => {
  let started: Sipp[] = [];
  let sockets: Socket[] = [];
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'callpay-sipp-test-'));
  });

  afterEach(async () => {
    await Promise.all(started.map((s) => s.stop()));
    await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    started = [];
    sockets = [];
    rmSync(dir, { recursive: true, force: true });
  });

  async function sipp(options: StartSippOptions): Promise<Sipp> {
    const s = await startSipp({ timeoutMs: 15_000, ...options });
    started.push(s);
    return s;
  }

  /** The caller's RTP endpoint: a socket this test owns, where the phone's SDP answer is honoured. */
  async function rtpSink(): Promise<{ port: number; socket: Socket; received: { rtp: RtpPacket; from: string }[] }> {
    const socket = createSocket('udp4');
    sockets.push(socket);
    const received: { rtp: RtpPacket; from: string }[] = [];
    socket.on('message', (msg, rinfo) => received.push({ rtp: parseRtp(msg), from: `${rinfo.address}:${rinfo.port}` }));
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    return { port: socket.address().port, socket, received };
  }

  /** Starts the phone, then a test caller aimed at it; both must end by themselves. */
  async function call(phone: StartSippOptions, caller: StartSippOptions) {
    const uas = await sipp(phone);
    const uac = await sipp({ ...caller, remote: uas.hostPort });
    const [uasOutcome, uacOutcome] = await Promise.all([uas.outcome(), uac.outcome()]);
    return { uas, uac, uasCode: uasOutcome.code, uacCode: uacOutcome.code };
  }

  it('starts on free loopback ports, is ready when its own sockets are bound, and stops by PID', async () => {
    const phones = await Promise.all([1, 2, 3].map(() => sipp({ scenario: 'ring-forever' })));
    const ports = phones.flatMap((p) => [p.port, p.mediaPort]);
    expect(new Set(ports).size).toBe(6);
    for (const p of phones) {
      expect(p.uri).toBe(`sip:phone@127.0.0.1:${p.port}`);
      expect(boundBy(p.pid, [p.port, p.mediaPort])).toBe(true);
    }
    await Promise.all(phones.map((p) => p.stop()));
    for (const p of phones) {
      expect(await p.outcome()).toEqual({ code: null, stopped: true }); // sipp itself exits 0 on SIGTERM
      expect(() => process.kill(p.pid, 0)).toThrow();
    }
  });

  it('ends by itself, failed, when its scenario is stuck (-timeout with -timeout_error)', async () => {
    const phone = await sipp({ scenario: 'ring-forever', timeoutMs: 1_000 });
    expect(await phone.outcome()).toEqual({ code: 255, stopped: false });
    expect(phone.logs()).toMatch(/timed out/);
  });

  it('answer-dtmf: keys "4411" as RFC 4733 events with the negotiated payload type, while receiving prompts', async () => {
    const pcap = join(dir, '4411.pcap');
    const info = writeDtmfPcap(pcap, { digits: '4411', payloadType: 101 });
    const sink = await rtpSink();
    const uas = await sipp({ scenario: 'answer-dtmf', pcap, vars: { dtmf_pt: '101' } });
    // callpay's prompt: PCMU every 20 ms to the phone's m=audio port, which sipp must shrug off
    const prompt = Buffer.concat([Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), Buffer.alloc(160, 0xff)]);
    const talking = setInterval(() => sink.socket.send(prompt, uas.mediaPort, '127.0.0.1'), 20);
    try {
      const uac = await sipp({
        scenario: 'test-uac-call', remote: uas.hostPort,
        vars: { rtp_port: String(sink.port), dtmf_pt: '101', hold_ms: String(info.durationMs + 700) },
      });
      const [a, b] = await Promise.all([uas.outcome(), uac.outcome()]);
      expect(a.code, uas.logs()).toBe(0);
      expect(b.code, uac.logs()).toBe(0);
      expect(uac.actionLog()).toMatch(/ANSWER m=audio \d+ RTP\/AVP 0 8 101/);
    } finally {
      clearInterval(talking);
    }
    expect(uas.logs()).toContain(`In pcap ${pcap}, npkts ${info.packets}`); // sipp's own reading of the file
    const rtp = sink.received.map((r) => r.rtp);
    expect(dtmfDigits(rtp, 101)).toBe('4411');
    expect(rtp).toHaveLength(info.packets);
    expect(new Set(sink.received.map((r) => r.from))).toEqual(new Set([`127.0.0.1:${uas.mediaPort}`]));
    expect(new Set(rtp.map((p) => p.payloadType))).toEqual(new Set([101]));
    expect(rtp.filter((p) => p.marker)).toHaveLength(4);
    rtp.forEach((p, i) => i > 0 && expect(p.sequence).toBe((rtp[i - 1]!.sequence + 1) & 0xffff));
  });

  it('answer-dtmf: another payload type (96) and a PCMU lead-in, as the call negotiated them', async () => {
    const pcap = join(dir, '19.pcap');
    const info = writeDtmfPcap(pcap, { digits: '19#', payloadType: 96, leadMs: 200, silencePayloadType: 0 });
    const sink = await rtpSink();
    const { uas, uac, uasCode, uacCode } = await call(
      { scenario: 'answer-dtmf', pcap, vars: { dtmf_pt: '96' } },
      { scenario: 'test-uac-call', vars: { rtp_port: String(sink.port), dtmf_pt: '96', hold_ms: String(info.durationMs + 700) } },
    );
    expect(uasCode, uas.logs()).toBe(0);
    expect(uacCode, uac.logs()).toBe(0);
    expect(uac.messages()).toContain('a=rtpmap:96 telephone-event/8000');
    const rtp = sink.received.map((r) => r.rtp);
    expect(rtp[0]!.payloadType).toBe(0);
    expect(dtmfDigits(rtp, 96)).toBe('19#');
  });

  it('answer-info: keys "4411#" as SIP INFO application/dtmf-relay in the dialog', async () => {
    const { uas, uac, uasCode, uacCode } = await call(
      { scenario: 'answer-info', vars: { info_digits: '4411#' } },
      { scenario: 'test-uac-info', vars: { rtp_port: '9' } },
    );
    expect(uasCode, uas.logs()).toBe(0);
    expect(uacCode, uac.logs()).toBe(0);
    const keys = [...uac.actionLog().matchAll(/^KEY (\S) \(Signal=\S, ?application\/dtmf-relay\)/gm)].map((m) => m[1]);
    expect(keys.join(''), uac.logs()).toBe('4411#');
  });

  it('busy: 486 Busy Here', async () => {
    const { uas, uac, uasCode, uacCode } = await call({ scenario: 'busy' }, { scenario: 'test-uac-refused', vars: { rtp_port: '9' } });
    expect(uasCode, uas.logs()).toBe(0);
    expect(uacCode, uac.logs()).toBe(0);
    expect(uac.actionLog()).toContain('FINAL SIP/2.0 486 Busy Here');
  });

  it('reject: rings, then 603 Decline', async () => {
    const { uas, uac, uasCode, uacCode } = await call({ scenario: 'reject' }, { scenario: 'test-uac-refused', vars: { rtp_port: '9' } });
    expect(uasCode, uas.logs()).toBe(0);
    expect(uacCode, uac.logs()).toBe(0);
    expect(uac.actionLog()).toContain('FINAL SIP/2.0 603 Decline');
    expect(uac.messages()).toContain('SIP/2.0 180 Ringing');
  });

  it('ring-forever: rings until CANCEL, then 200 for the CANCEL and 487 for the INVITE', async () => {
    const { uas, uac, uasCode, uacCode } = await call({ scenario: 'ring-forever' }, { scenario: 'test-uac-cancel', vars: { rtp_port: '9' } });
    expect(uasCode, uas.logs()).toBe(0);
    expect(uacCode, uac.logs()).toBe(0);
    const received = uac.messages();
    expect(received).toMatch(/SIP\/2.0 200 OK[^]*CSeq: 1 CANCEL/);
    expect(received).toMatch(/SIP\/2.0 487 Request Terminated[^]*CSeq: 1 INVITE/);
  });

  it('digest: challenges with 401 (qop=auth), verifies the Authorization, then answers', async () => {
    const { uas, uac, uasCode, uacCode } = await call(
      { scenario: 'digest', vars: { auth_user: 'trunkuser', auth_pass: 's3cret', auth_realm: 'trunk.test' } },
      { scenario: 'test-uac-digest', authUser: 'trunkuser', authPassword: 's3cret', vars: { rtp_port: '9', hold_ms: '300' } },
    );
    expect(uasCode, uas.logs()).toBe(0);
    expect(uacCode, uac.logs()).toBe(0);
    expect(uac.messages()).toMatch(/WWW-Authenticate: Digest realm="trunk.test", nonce="[^"]+", opaque="callpay-sipp", qop="auth", algorithm=MD5/);
    expect(uas.actionLog()).toMatch(/Authorization: Digest username="trunkuser",realm="trunk.test",.*qop=auth/);
  });

  it('digest: refuses wrong credentials with 403 and fails its call', async () => {
    const { uas, uac, uasCode, uacCode } = await call(
      { scenario: 'digest' },
      { scenario: 'test-uac-digest', authUser: 'callpay', authPassword: 'not-the-secret', vars: { rtp_port: '9' } },
    );
    expect(uasCode, uas.logs()).toBe(1);
    expect(uacCode, uac.logs()).toBe(1);
    expect(uac.messages()).toContain('SIP/2.0 403 Forbidden');
  });

  it('hangup-during-playback: answers, then sends BYE after hangup_after_ms', async () => {
    const sink = await rtpSink();
    const t0 = Date.now();
    const { uas, uac, uasCode, uacCode } = await call(
      { scenario: 'hangup-during-playback', vars: { hangup_after_ms: '800' } },
      { scenario: 'test-uac-hungup', vars: { rtp_port: String(sink.port) } },
    );
    expect(uasCode, uas.logs()).toBe(0);
    expect(uacCode, uac.logs()).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(800);
    const bye = parseSipTrace(uac.messages()).find((m) => m.direction === 'received' && m.firstLine.startsWith('BYE '));
    expect(bye?.firstLine).toMatch(/^BYE sip:callpay@127\.0\.0\.1:\d+;transport=UDP SIP\/2\.0$/);
  });

  it('retransmit-200: sends the 200 OK three times and needs an ACK for each', async () => {
    const { uas, uac, uasCode, uacCode } = await call(
      { scenario: 'retransmit-200' },
      { scenario: 'test-uac-call', vars: { rtp_port: '9', hold_ms: '1500' } },
    );
    expect(uasCode, uas.logs()).toBe(0);
    expect(uacCode, uac.logs()).toBe(0);
    expect(uas.command).toContain(' -nr');
    const trace = parseSipTrace(uas.messages());
    const oks = trace.filter((m) => m.direction === 'sent' && m.firstLine === 'SIP/2.0 200 OK' && /^CSeq: 1 INVITE\r?$/m.test(m.text));
    expect(oks).toHaveLength(3);
    expect(new Set(oks.map((m) => m.text)).size).toBe(1); // the same response, three times
    expect(trace.filter((m) => m.direction === 'received' && m.firstLine.startsWith('ACK '))).toHaveLength(3);
  });

  it('reinvite: re-INVITEs mid-call, takes the 200 with SDP and ACKs it, then waits for BYE', async () => {
    const { uas, uac, uasCode, uacCode } = await call(
      { scenario: 'reinvite', vars: { reinvite_after_ms: '300' } },
      { scenario: 'test-uac-reinvite', vars: { rtp_port: '9', hold_ms: '300' } },
    );
    expect(uasCode, uas.logs()).toBe(0);
    expect(uacCode, uac.logs()).toBe(0);
    expect(uac.actionLog()).toMatch(/REINVITE o=phone \d+ 2 IN IP4 127\.0\.0\.1/);
    expect(uas.actionLog()).toMatch(/re-INVITE answered, CSeq ?\d+: m=audio \d+ RTP\/AVP/);
  });
});
