import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEmbeddedEngine } from '../src/telephony/embedded.js';
import type { CallEngine } from '../src/telephony/engine.js';
import { parseSipTrace, startSipp, type Sipp } from './helpers/sipp.js';
import { writeDtmfPcap } from './helpers/pcap.js';
import { tempDir } from './helpers/cli.js';
import { freeRtpPortRange } from './helpers/rtp-phone.js';
import { waitFor } from './helpers/wait.js';

const log = pino({ level: 'silent' });
const PIN_INPUT = { minDigits: 1, maxDigits: 8, terminators: '#', firstDigitTimeoutMs: 5000, interDigitTimeoutMs: 2000 };
const PROMPT = fileURLToPath(new URL('../prompts/en-US/ivr/enter-pin.wav', import.meta.url));
const TONE = fileURLToPath(new URL('../prompts/common/test-tone.wav', import.meta.url));

/** How many messages sipp has received so far (its -trace_msg, written as it goes) with this first line and CSeq method. */
const sippReceived = (s: Sipp, firstLine: RegExp, cseqMethod: string) =>
  parseSipTrace(s.messages()).filter((m) => m.direction === 'received' && firstLine.test(m.firstLine) && new RegExp(`^CSeq:\\s*\\d+ ${cseqMethod}\\s*$`, 'mi').test(m.text)).length;

/**
 * The embedded engine against sipp playing the consumer's phone: real SIP and RTP over loopback.
 * Each test starts its own sipp, waits until it listens, and stops it by PID.
 */
describe('embedded call engine against sipp', () => {
  let dir: ReturnType<typeof tempDir>;
  let sipp: Sipp | undefined;
  let engine: (CallEngine & { sipPort: number }) | undefined;

  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    await engine?.close();
    await sipp?.stop();
    engine = undefined;
    sipp = undefined;
    dir.remove();
  });

  async function phone(scenario: string, opts: Parameters<typeof startSipp>[0] extends infer O ? Partial<O> : never = {}): Promise<Sipp> {
    sipp = await startSipp({ scenario, timeoutMs: 20_000, ...opts });
    const rtp = await freeRtpPortRange(8);
    engine = await createEmbeddedEngine({
      sip: {
        bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, requestUri: `sip:{number}@127.0.0.1:${sipp.port}`,
        from: 'sip:callpay@127.0.0.1', displayName: 'callpay', username: 'callpay', password: 'secret', ringTimeoutMs: 45_000,
      },
      rtp: { bindHost: '127.0.0.1', ...rtp },
      log,
      timers: { t1: 100 },
    });
    return sipp;
  }

  const dial = (ringTimeoutMs?: number) => engine!.dial({ number: '+886912345678', log, ...(ringTimeoutMs ? { ringTimeoutMs } : {}) });

  it('answers and keys "4411#" as RFC 4733 events: repeated digits count twice, end packets once', async () => {
    const pcap = join(dir.path, 'dtmf.pcap');
    writeDtmfPcap(pcap, { digits: '4411#', payloadType: 101, leadMs: 400, silencePayloadType: 0 });
    const s = await phone('answer-dtmf', { pcap });
    const r = await dial();
    expect(r.kind).toBe('answered');
    if (r.kind !== 'answered') return;
    const input = await r.call.collect(PIN_INPUT);
    expect(input).toEqual({ kind: 'digits', digits: '4411', reason: 'terminator', terminator: '#' });
    await r.call.hangup();
    const record = await r.call.ended;
    expect(record).toMatchObject({ outcome: 'answered', sipStatus: 200, digitCount: 5 });
    expect((await s.outcome()).code, s.logs()).toBe(0);
  });

  it('keeps digits keyed during a prompt (barge-in stops it) for the next collect', async () => {
    const pcap = join(dir.path, 'dtmf.pcap');
    writeDtmfPcap(pcap, { digits: '12#', leadMs: 400, silencePayloadType: 0 });
    await phone('answer-dtmf', { pcap });
    const r = await dial();
    if (r.kind !== 'answered') throw new Error(r.kind);
    const started = Date.now();
    const played = await r.call.play([TONE, TONE, TONE, TONE], { bargeIn: true });
    expect(played).toEqual({ kind: 'interrupted', by: 'digit' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await r.call.collect(PIN_INPUT)).toMatchObject({ digits: '12', terminator: '#' });
    await r.call.hangup();
  });

  it('receives digits sent as SIP INFO (dtmf-relay)', async () => {
    const s = await phone('answer-info', { vars: { info_digits: '4411' } });
    const r = await dial();
    if (r.kind !== 'answered') throw new Error(r.kind);
    const input = await r.call.collect({ ...PIN_INPUT, maxDigits: 4 });
    expect(input).toMatchObject({ kind: 'digits', digits: '4411', reason: 'max_digits' });
    // sipp fails a BYE that races its last INFO: it must have our 200 to all four (its trace shows
    // that), then step through the scenario's <nop>s to its wait for the BYE. That step shows nowhere
    // (no <log> there), so it gets a bounded moment, counted from the 200 it has, not from our side.
    await waitFor('sipp to receive the 200 to its fourth INFO', () => sippReceived(s, /^SIP\/2\.0 200 /, 'INFO') >= 4);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await r.call.hangup();
    expect((await s.outcome()).code, s.logs()).toBe(0);
  });

  it.each([
    ['busy', 'busy', 486],
    ['reject', 'rejected', 603],
  ] as const)('maps the %s scenario to %s (%i)', async (scenario, kind, status) => {
    const s = await phone(scenario);
    const r = await dial();
    expect(r).toMatchObject({ kind, sipStatus: status });
    if (r.kind !== 'answered') expect(r.record).toMatchObject({ outcome: kind, sipStatus: status, answeredAt: null });
    expect((await s.outcome()).code, s.logs()).toBe(0);
  });

  it('CANCELs after the ring timeout: no answer', async () => {
    const s = await phone('ring-forever');
    const started = Date.now();
    const r = await dial(1500);
    expect(r.kind).toBe('no_answer');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect((await s.outcome()).code, s.logs()).toBe(0);
    expect(s.messages()).toContain('CANCEL sip:');
  });

  it('reports hung-up when the phone hangs up during playback', async () => {
    const s = await phone('hangup-during-playback', { vars: { hangup_after_ms: '800' } });
    const r = await dial();
    if (r.kind !== 'answered') throw new Error(r.kind);
    const played = await r.call.play([TONE, TONE, TONE, TONE, TONE], { bargeIn: false });
    expect(played).toEqual({ kind: 'hung_up' });
    expect(await r.call.ended).toMatchObject({ outcome: 'hung_up' });
    expect(await r.call.collect(PIN_INPUT)).toEqual({ kind: 'hung_up' });
    expect((await s.outcome()).code, s.logs()).toBe(0);
  });

  it('answers a digest challenge with the configured credentials', async () => {
    const s = await phone('digest');
    const r = await dial();
    expect(r.kind).toBe('answered');
    if (r.kind === 'answered') await r.call.hangup();
    expect((await s.outcome()).code, s.logs()).toBe(0);
  });

  it('ACKs a retransmitted 200 OK each time', async () => {
    const s = await phone('retransmit-200');
    const r = await dial();
    expect(r.kind).toBe('answered');
    if (r.kind === 'answered') {
      // The scenario sends its 200 three times, 500 ms apart, and waits for the BYE after the third ACK.
      await waitFor('sipp to receive the ACK to each of its three 200s', () => sippReceived(s, /^ACK /, 'ACK') >= 3);
      await r.call.hangup();
    }
    expect((await s.outcome()).code, s.logs()).toBe(0);
  });

  it('answers a hold with recvonly and a resume with sendrecv, then counts digits with the new event payload type', async () => {
    const pcap = join(dir.path, 'dtmf.pcap');
    writeDtmfPcap(pcap, { digits: '4411#', payloadType: 96, leadMs: 300, silencePayloadType: 8 });
    // sipp checks each answer (check_it): a wrong direction or codec list fails its call.
    const s = await phone('hold-resume', { pcap, vars: { reinvite_after_ms: '200', hold_ms: '300', resume_dtmf_pt: '96' } });
    const r = await dial();
    if (r.kind !== 'answered') throw new Error(r.kind);
    expect(await r.call.collect({ ...PIN_INPUT, firstDigitTimeoutMs: 8000 })).toEqual({ kind: 'digits', digits: '4411', reason: 'terminator', terminator: '#' });
    await r.call.hangup();
    expect((await s.outcome()).code, s.logs()).toBe(0);
    expect(s.actionLog()).toMatch(/hold answered: a=recvonly/);
    expect(s.actionLog()).toMatch(/resume answered: a=sendrecv m=audio \d+ RTP\/AVP 8 0 96/);
  });

  it('answers a re-INVITE mid-call and keeps playing', async () => {
    const s = await phone('reinvite', { vars: { reinvite_after_ms: '300' } });
    const r = await dial();
    if (r.kind !== 'answered') throw new Error(r.kind);
    expect(await r.call.play([PROMPT], { bargeIn: false })).toEqual({ kind: 'completed' });
    await r.call.hangup();
    expect((await s.outcome()).code, s.logs()).toBe(0);
  });
});

describe('callpay call test', () => {
  it('places a test call and prints outcome and timings, never the digits', async () => {
    const { runCli } = await import('./helpers/cli.js');
    const dir = tempDir();
    const phone = await startSipp({ scenario: 'answer-info', vars: { info_digits: '4411' }, timeoutMs: 20_000 });
    try {
      await runCli(['init'], { cwd: dir.path });
      const env = { CALLPAY_TELEPHONY_SIP_REQUEST_URI: `sip:{number}@127.0.0.1:${phone.port}`, CALLPAY_TELEPHONY_SIP_BIND_PORT: '0' };
      const r = await runCli(['call', 'test', '--number', '+886912345678', '--digits', '4', '--json'], { cwd: dir.path, env });
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(out).toMatchObject({ outcome: 'answered', digits_received: 4, input: 'max_digits' });
      expect(r.stdout + r.logs).not.toContain('4411');
      expect(r.stdout + r.logs).not.toContain('912345678');
      const bad = await runCli(['call', 'test', '--number', '12345'], { cwd: dir.path, env });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('number');
    } finally {
      await phone.stop();
      dir.remove();
    }
  });
});
