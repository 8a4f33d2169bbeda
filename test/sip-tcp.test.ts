import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../src/log.js';
import { createEmbeddedEngine } from '../src/telephony/embedded.js';
import type { CallEngine } from '../src/telephony/engine.js';
import { createSipUserAgent, type InviteRequest, type InviteResult, type SipUserAgent, type SipUserAgentOptions } from '../src/telephony/sip/index.js';
import { getHeader } from '../src/telephony/sip/message.js';
import { TrustedSources } from '../src/telephony/sip/trust.js';
import { ANSWER, NUMBER, OFFER } from './helpers/fake-phone.js';
import { tempDir } from './helpers/cli.js';
import { writeDtmfPcap } from './helpers/pcap.js';
import { freeRtpPortRange } from './helpers/rtp-phone.js';
import { parseSipTrace, startSipp, type Sipp } from './helpers/sipp.js';
import { StreamPhone } from './helpers/stream-phone.js';
import { waitFor } from './helpers/wait.js';

const T1 = 50;

/** The UA over TCP against a scripted TCP phone: Via/Contact, connection reuse and re-opening, timers, trust. */
describe('SIP over TCP: the user agent against a TCP phone', () => {
  let phone: StreamPhone;
  let ua: SipUserAgent;
  let log: Logger;
  let logLines: string[];

  async function startUa(extra: Partial<SipUserAgentOptions> = {}): Promise<SipUserAgent> {
    return createSipUserAgent({ bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, timers: { t1: T1, t2: 8 * T1, t4: 10 * T1 }, log, ...extra });
  }

  beforeEach(async () => {
    logLines = [];
    log = createLogger({ level: 'debug', destination: { write: (s: string) => void logLines.push(s) } });
    phone = await StreamPhone.start();
    ua = await startUa();
  });
  afterEach(async () => {
    phone.answerByes = true;
    await ua.close();
    await phone.close();
    expect(logLines.join('')).not.toContain(NUMBER.slice(1));
  });

  const dial = (over: Partial<InviteRequest> = {}): Promise<InviteResult> =>
    ua.invite({ requestUri: `sip:${NUMBER}@127.0.0.1:${phone.port};transport=tcp`, from: 'sip:callpay@example.com', displayName: 'Callpay', sdpOffer: OFFER, ringTimeoutMs: 10_000, log, ...over });
  const contact = () => `Contact: <${phone.uri()}>`;

  /** Dials, answers with 200 on the INVITE's connection, and waits for the ACK. */
  async function answeredCall() {
    const result = dial();
    const invite = await phone.request('INVITE');
    phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact(), 'Content-Type: application/sdp'] });
    const r = await result;
    if (r.kind !== 'answered') throw new Error(`not answered: ${r.kind}`);
    const ack = await phone.request('ACK');
    return { invite, r, ack };
  }

  it('INVITE over TCP: Via SIP/2.0/TCP, Contact ;transport=tcp; the ACK and our BYE reuse the connection', async () => {
    const { invite, r, ack } = await answeredCall();
    expect(invite.msg.core.via.transport).toBe('TCP');
    expect(invite.msg.core.via.port).toBe(ua.local.port);
    expect(getHeader(invite.msg, 'contact')).toBe(`<sip:callpay@127.0.0.1:${ua.local.port};transport=tcp>`);
    expect(ack.conn).toBe(invite.conn);
    expect(ack.msg.core.via.transport).toBe('TCP');
    const bye = r.dialog.bye();
    const byeReq = await phone.request('BYE');
    expect(byeReq.conn).toBe(invite.conn);
    phone.respond(byeReq, 200, 'OK');
    await bye;
    expect(phone.connections).toHaveLength(1);
  });

  it('the phone BYE over the same connection: answered on it, the call ends', async () => {
    const { invite, r } = await answeredCall();
    phone.send(phone.dialogRequest(invite, 'ph1', 'BYE', 1), invite.conn);
    const ok = await phone.response(200, 'BYE');
    expect(ok.conn).toBe(invite.conn);
    expect(await r.dialog.ended).toBe('remote');
  });

  it('no retransmission over TCP (timers A/E unused), and timer B still ends an unanswered INVITE', async () => {
    const started = Date.now();
    const result = await dial();
    expect(result).toMatchObject({ kind: 'failed', reason: 'no response to INVITE (timer B)' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(64 * T1 - 10);
    // Over UDP the INVITE would have been sent 7 times in 64*T1.
    expect(phone.requests('INVITE')).toHaveLength(1);
  });

  it('a BYE over TCP is sent once and timer F bounds it', async () => {
    const { r } = await answeredCall();
    const started = Date.now();
    await r.dialog.bye();
    expect(Date.now() - started).toBeGreaterThanOrEqual(64 * T1 - 10);
    expect(phone.requests('BYE')).toHaveLength(1);
  });

  it('two calls to one destination share one connection (§18.1.1)', async () => {
    const first = await answeredCall();
    const second = await answeredCall();
    expect(second.invite.conn).toBe(first.invite.conn);
    expect(phone.connections).toHaveLength(1);
  });

  it('re-opens the connection when the far end has closed it', async () => {
    const first = await answeredCall();
    phone.hangUpConnection(first.invite.conn);
    await waitFor('the connection to be closed both ways', () => phone.connections[first.invite.conn]!.closed);
    const second = dial();
    const invite = await phone.request('INVITE');
    expect(invite.conn).not.toBe(first.invite.conn);
    phone.respond(invite, 486, 'Busy Here', { toTag: 'ph2' });
    expect(await second).toMatchObject({ kind: 'busy', sipStatus: 486 });
    expect(phone.connections).toHaveLength(2);
  });

  it('closes an idle connection, and opens a new one when needed', async () => {
    await ua.close();
    ua = await startUa({ idleTimeoutMs: 300 });
    const first = await answeredCall();
    await waitFor('the UA to close the idle connection', () => phone.connections[first.invite.conn]!.closed);
    const second = await answeredCall();
    expect(second.invite.conn).not.toBe(first.invite.conn);
  });

  it('nobody listening: the INVITE fails at once with the reason, no timer B wait', async () => {
    const port = phone.port;
    await phone.close();
    const started = Date.now();
    const r = await ua.invite({ requestUri: `sip:${NUMBER}@127.0.0.1:${port};transport=tcp`, from: 'sip:callpay@example.com', displayName: '', sdpOffer: OFFER, ringTimeoutMs: 10_000, log });
    expect(r.kind).toBe('failed');
    if (r.kind !== 'failed') return;
    expect(r.reason).toContain('ECONNREFUSED');
    expect(Date.now() - started).toBeLessThan(64 * T1);
    expect(logLines.join('')).toContain('SIP connection failed');
    phone = await StreamPhone.start();
  });

  it('the far end drops the connection before answering: the INVITE fails at once, not at timer B', async () => {
    const started = Date.now();
    const result = dial();
    const invite = await phone.request('INVITE');
    phone.connections[invite.conn]!.destroy();
    const r = await result;
    expect(r).toMatchObject({ kind: 'failed' });
    if (r.kind === 'failed') expect(r.reason).toContain('connection closed');
    expect(Date.now() - started).toBeLessThan(64 * T1);
  });

  it('the outbound proxy as "sip:127.0.0.1:<port>;transport=tcp" takes the INVITE over TCP', async () => {
    await ua.close();
    ua = await startUa({ outboundProxy: `sip:127.0.0.1:${phone.port};transport=tcp` });
    const result = ua.invite({ requestUri: `sip:${NUMBER}@carrier.invalid;user=phone`, from: 'sip:callpay@example.com', displayName: '', sdpOffer: OFFER, ringTimeoutMs: 10_000, log });
    const invite = await phone.request('INVITE');
    expect(invite.msg.core.via.transport).toBe('TCP');
    phone.respond(invite, 603, 'Decline', { toTag: 'p' });
    expect(await result).toMatchObject({ kind: 'rejected' });
  });

  it("a request on a NEW connection from the next hop's address (ephemeral port) is admitted", async () => {
    const { invite, r } = await answeredCall();
    const inbound = await phone.connect(ua.local.port);
    phone.send(phone.dialogRequest(invite, 'ph1', 'BYE', 1), inbound);
    const ok = await phone.response(200, 'BYE');
    expect(ok.conn).toBe(inbound);
    expect(await r.dialog.ended).toBe('remote');
  });

  it('a request over a connection from another address is refused (403), the call goes on', async () => {
    const { invite, r } = await answeredCall();
    const stranger = await phone.connect(ua.local.port, { localAddress: '127.0.0.2' });
    phone.send(phone.dialogRequest(invite, 'ph1', 'BYE', 1), stranger);
    expect((await phone.response(403, 'BYE')).conn).toBe(stranger);
    const ended = await Promise.race([r.dialog.ended, Promise.resolve('still up')]);
    expect(ended).toBe('still up');
  });

  it('a retransmitted request after its connection closed is answered over a new connection to the Via sent-by', async () => {
    const { invite } = await answeredCall();
    const first = await phone.connect(ua.local.port);
    const info = phone.dialogRequest(invite, 'ph1', 'OPTIONS', 1, { branch: 'z9hG4bKretrans1' });
    phone.send(info, first);
    expect((await phone.response(200, 'OPTIONS')).conn).toBe(first);
    phone.hangUpConnection(first);
    await waitFor('the UA to see the connection close', () => phone.connections[first]!.closed);
    const second = await phone.connect(ua.local.port);
    phone.send(info, second);
    const again = await phone.response(200, 'OPTIONS');
    // Neither closed `first` nor `second`: the stored answer goes where §18.2.2 says, the phone's listener (its Via port).
    expect(again.conn).not.toBe(first);
    expect(again.conn).not.toBe(second);
  });
});

describe('trusted sources over streams (trust.ts)', () => {
  const trusted = new TrustedSources([{ host: '192.0.2.1', port: 5060 }]);
  it.each([
    [{ host: '192.0.2.1', port: 5060 }, true],
    [{ host: '192.0.2.1', port: 40123 }, false],
    [{ host: '192.0.2.1', port: 40123, transport: 'tcp', connection: 'c1' }, true],
    [{ host: '::ffff:192.0.2.1', port: 40124, transport: 'tls', connection: 'c2' }, true],
    [{ host: '192.0.2.9', port: 5060, transport: 'tcp', connection: 'c3' }, false],
  ] as const)('%o → %s', (source, allowed) => {
    expect(trusted.allows(source)).toBe(allowed);
  });
});

/** The embedded engine against sipp over TCP (`-t t1`): a call with RFC 4733 digits, BYE both ways. */
describe('SIP over TCP against sipp', () => {
  const silent = pino({ level: 'silent' });
  const PIN_INPUT = { minDigits: 1, maxDigits: 8, terminators: '#', firstDigitTimeoutMs: 5000, interDigitTimeoutMs: 2000 };
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

  async function phoneOverTcp(scenario: string, opts: { pcap?: string; vars?: Record<string, string> } = {}): Promise<Sipp> {
    sipp = await startSipp({ scenario, timeoutMs: 20_000, transport: 'tcp', ...opts });
    engine = await createEmbeddedEngine({
      sip: {
        bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, requestUri: `sip:{number}@127.0.0.1:${sipp.port};transport=tcp`,
        from: 'sip:callpay@127.0.0.1', displayName: 'callpay', username: null, password: null, ringTimeoutMs: 45_000,
      },
      rtp: { bindHost: '127.0.0.1', ...(await freeRtpPortRange(8)) },
      log: silent,
      timers: { t1: 100 },
    });
    return sipp;
  }

  it('answers, keys "4411#" as RFC 4733 events; our BYE over TCP', async () => {
    const pcap = join(dir.path, 'dtmf.pcap');
    writeDtmfPcap(pcap, { digits: '4411#', payloadType: 101, leadMs: 400, silencePayloadType: 0 });
    const s = await phoneOverTcp('answer-dtmf', { pcap });
    const r = await engine!.dial({ number: '+886912345678', log: silent });
    expect(r.kind, s.logs()).toBe('answered');
    if (r.kind !== 'answered') return;
    expect(await r.call.collect(PIN_INPUT)).toEqual({ kind: 'digits', digits: '4411', reason: 'terminator', terminator: '#' });
    await r.call.hangup();
    expect((await s.outcome()).code, s.logs()).toBe(0);
    const trace = parseSipTrace(s.messages());
    const received = trace.filter((m) => m.direction === 'received');
    expect(received.map((m) => m.firstLine.split(' ')[0])).toEqual(['INVITE', 'ACK', 'BYE']);
    for (const m of received) expect(m.text).toMatch(/^Via: SIP\/2\.0\/TCP /m);
    expect(s.messages()).not.toMatch(/^UDP message/m);
  });

  it('the phone hangs up: its BYE over TCP is answered, the call ends as hung up', async () => {
    const s = await phoneOverTcp('hangup-during-playback', { vars: { hangup_after_ms: '300' } });
    const r = await engine!.dial({ number: '+886912345678', log: silent });
    expect(r.kind, s.logs()).toBe('answered');
    if (r.kind !== 'answered') return;
    const record = await r.call.ended;
    expect(record.outcome).toBe('hung_up');
    expect((await s.outcome()).code, s.logs()).toBe(0);
    const byeOk = parseSipTrace(s.messages()).find((m) => m.direction === 'received' && /^SIP\/2\.0 200/.test(m.firstLine) && /CSeq:\s*\d+ BYE/i.test(m.text));
    expect(byeOk, s.logs()).toBeDefined();
  });
});
