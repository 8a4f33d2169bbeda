import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../src/log.js';
import { createSipUserAgent, type SipUserAgent } from '../src/telephony/sip/index.js';
import { getHeader, getHeaders, parseMessage, type IncomingResponse } from '../src/telephony/sip/message.js';
import { parseRSeq, ReliableProvisionals } from '../src/telephony/sip/prack.js';
import type { SipCore } from '../src/telephony/sip/core.js';
import { ANSWER, NUMBER, crlf, uaHarness, type FakePhone } from './helpers/fake-phone.js';
import { enrolPrepaid, finalOf, startCallingWorld, type TestWorld } from './helpers/daemon.js';
import { writeDtmfPcap } from './helpers/pcap.js';
import { parseSipTrace, startSipp, type Sipp } from './helpers/sipp.js';

/**
 * RFC 3262 on the caller side: reliable provisional responses are PRACKed in their early dialog, in
 * RSeq order; retransmissions and out-of-order ones are neither PRACKed nor processed; an unreadable
 * RSeq makes a 1xx unreliable; the answer in a reliable 1xx serves a 2xx without SDP.
 */

const quiet = createLogger({ level: 'silent' });

function response(status: number, headers: string[], body = ''): IncomingResponse {
  const text = crlf([
    `SIP/2.0 ${status} Whatever`,
    'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc',
    'From: <sip:callpay@example.com>;tag=ours',
    'To: <sip:phone@example.com>;tag=theirs',
    'Call-ID: c1',
    'CSeq: 1 INVITE',
    ...headers,
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ]);
  const parsed = parseMessage(text);
  if (!parsed.ok || parsed.message.type !== 'response') throw new Error('test response unreadable');
  return parsed.message;
}

describe('100rel: RSeq and the PRACK decision (RFC 3262 §4, §7.1)', () => {
  it('reads RSeq as 1 to 2^31-1 and nothing else', () => {
    expect(parseRSeq('1')).toBe(1);
    expect(parseRSeq(' 988789 ')).toBe(988789);
    expect(parseRSeq(String(2 ** 31 - 1))).toBe(2 ** 31 - 1);
    for (const bad of [undefined, '', '0', '-1', '1.5', '12x', String(2 ** 31), '99999999999', '1 2', '0x10']) expect(parseRSeq(bad), String(bad)).toBeNull();
  });

  it('acknowledges the first reliable 1xx, then only RSeq + 1; retransmissions and gaps are dropped', () => {
    const r = new ReliableProvisionals({ core: {} as SipCore, log: quiet, callId: 'c1', fromHeader: '', fallbackDest: () => ({ host: '127.0.0.1', port: 5060 }), digest: null });
    const rel = (rseq: string, status = 180) => r.decide(response(status, ['Require: 100rel', `RSeq: ${rseq}`]));
    expect(rel('7')).toEqual({ kind: 'prack', rseq: 7 });
    expect(rel('7')).toMatchObject({ kind: 'drop', reason: 'retransmission' });
    expect(rel('9')).toMatchObject({ kind: 'drop', reason: 'out of order' });
    expect(rel('8', 183)).toEqual({ kind: 'prack', rseq: 8 });
    expect(rel('9')).toEqual({ kind: 'prack', rseq: 9 });
    expect(rel('junk')).toEqual({ kind: 'unreliable' }); // unreadable: an ordinary 1xx
    expect(r.decide(response(180, ['RSeq: 10']))).toEqual({ kind: 'unreliable' }); // no Require: 100rel
    expect(r.decide(response(100, ['Require: 100rel', 'RSeq: 10']))).toEqual({ kind: 'unreliable' }); // 100 never (§3)
    expect(r.decide(response(180, ['Require: timer, 100rel', 'RSeq: 10']))).toEqual({ kind: 'prack', rseq: 10 });
    r.reset(2); // a new INVITE: a new RSeq space
    expect(rel('1')).toEqual({ kind: 'prack', rseq: 1 });
  });

  it('bounds what a flood of reliable 1xx can make it send: 16 early dialogs, 64 PRACKs per INVITE', () => {
    const r = new ReliableProvisionals({ core: {} as SipCore, log: quiet, callId: 'c1', fromHeader: '', fallbackDest: () => ({ host: '127.0.0.1', port: 5060 }), digest: null });
    const fork = (tag: string, rseq: number) => {
      const res = response(180, ['Require: 100rel', `RSeq: ${rseq}`]);
      return r.decide({ ...res, core: { ...res.core, to: { ...res.core.to, tag } } });
    };
    const forks = Array.from({ length: 20 }, (_, i) => fork(`t${i}`, 1).kind);
    expect(forks.filter((k) => k === 'prack')).toHaveLength(16);
    const more = Array.from({ length: 60 }, (_, i) => fork('t0', i + 2).kind);
    expect(more.filter((k) => k === 'prack')).toHaveLength(64 - 16);
  });
});

describe('100rel against a fake phone', () => {
  let phone: FakePhone;
  let ua: SipUserAgent;
  const h = uaHarness();
  const { dial, contact } = h;
  beforeEach(() => {
    ({ phone, ua } = h.current());
  });

  it('PRACKs in the early dialog (route set, remote target, To tag, RAck), reports each 1xx once, and continues CSeq after the PRACKs', async () => {
    const provisional: number[] = [];
    const result = dial({ onProvisional: (p) => provisional.push(p.status) });
    const invite = await phone.request('INVITE');
    expect(getHeaders(invite.msg, 'supported')).toEqual(['100rel', 'timer']);
    const rr = `Record-Route: <sip:edge@127.0.0.1:${phone.port};lr>`;
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1', headers: [rr, contact(), 'Require: 100rel', 'RSeq: 41'] });
    const prack = await phone.request('PRACK');
    expect(prack.msg.uri).toBe(`sip:phone@127.0.0.1:${phone.port}`);
    expect(getHeaders(prack.msg, 'route')).toEqual([`<sip:edge@127.0.0.1:${phone.port};lr>`]);
    expect(getHeader(prack.msg, 'rack')).toBe('41 1 INVITE');
    expect(prack.msg.core.to.tag).toBe('ph1');
    expect(prack.msg.core.from.tag).toBe(invite.msg.core.from.tag);
    expect(prack.msg.core.callId).toBe(invite.msg.core.callId);
    expect(prack.msg.core.cseq).toEqual({ seq: 2, method: 'PRACK' });
    phone.respond(prack, 200, 'OK');

    // a retransmission, a gap, an unreadable RSeq, a 100 claiming 100rel: no PRACK for any
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1', headers: [rr, contact(), 'Require: 100rel', 'RSeq: 41'] });
    phone.respond(invite, 183, 'Session Progress', { toTag: 'ph1', headers: [rr, contact(), 'Require: 100rel', 'RSeq: 43'] });
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1', headers: [rr, contact(), 'Require: 100rel', 'RSeq: -4;;'] });
    phone.respond(invite, 100, 'Trying', { headers: ['Require: 100rel', 'RSeq: 1'] });
    // the answer comes in the reliable 183
    phone.respond(invite, 183, 'Session Progress', { toTag: 'ph1', body: ANSWER, headers: [rr, contact(), 'Require: 100rel', 'RSeq: 42', 'Content-Type: application/sdp'] });
    const prack2 = await phone.request('PRACK');
    expect(getHeader(prack2.msg, 'rack')).toBe('42 1 INVITE');
    expect(prack2.msg.core.cseq.seq).toBe(3);
    phone.respond(prack2, 200, 'OK');
    await phone.roundTrip(ua.local);
    expect(phone.requests('PRACK')).toHaveLength(2);
    expect(provisional).toEqual([180, 180, 183]); // the first 180, the unreliable one, the in-order 183

    // the 200 carries no SDP: the 183's answer is the session's
    phone.respond(invite, 200, 'OK', { toTag: 'ph1', headers: [rr, contact()] });
    const r = await result;
    if (r.kind !== 'answered') throw new Error(`expected answered, got ${r.kind} ${r.reason}`);
    expect(r.media).toMatchObject({ codec: 'PCMA', remotePort: 41000, telephoneEventPt: 96 });
    expect(r.remoteSdp).toBe(ANSWER);
    const ack = await phone.request('ACK');
    expect(ack.msg.core.cseq).toEqual({ seq: 1, method: 'ACK' });
    const bye = r.dialog.bye();
    const byeReq = await phone.request('BYE');
    expect(byeReq.msg.core.cseq.seq).toBe(4); // after the PRACKs' 2 and 3
    phone.respond(byeReq, 200, 'OK');
    await bye;
  });

  it('a PRACK left unanswered does not hold the call up', async () => {
    const result = dial();
    const invite = await phone.request('INVITE');
    phone.respond(invite, 183, 'Session Progress', { toTag: 'ph1', body: ANSWER, headers: [contact(), 'Require: 100rel', 'RSeq: 1', 'Content-Type: application/sdp'] });
    await phone.request('PRACK');
    phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact(), 'Content-Type: application/sdp'] });
    expect((await result).kind).toBe('answered');
  });

  it('a reliable 1xx without a To tag is taken as unreliable', async () => {
    const provisional: number[] = [];
    const result = dial({ onProvisional: (p) => provisional.push(p.status) });
    const invite = await phone.request('INVITE');
    phone.respond(invite, 180, 'Ringing', { headers: ['Require: 100rel', 'RSeq: 1'] });
    await phone.roundTrip(ua.local);
    expect(phone.requests('PRACK')).toHaveLength(0);
    expect(provisional).toEqual([180]);
    phone.respond(invite, 486, 'Busy Here', { toTag: 'ph1' });
    expect((await result).kind).toBe('busy');
  });
});

describe('100rel against sipp', { timeout: 40_000 }, () => {
  let sipp: Sipp | undefined;
  let ua: SipUserAgent | undefined;
  const logLines: string[] = [];
  const log: Logger = createLogger({ level: 'debug', destination: { write: (s: string) => void logLines.push(s) } });

  afterEach(async () => {
    await ua?.close();
    await sipp?.stop();
    ua = undefined;
    sipp = undefined;
    expect(logLines.join('')).not.toContain(NUMBER.slice(1));
  });

  it('PRACKs the reliable 180 and 183 in order, ignores the retransmission, the gap and the bad RSeq, answers from the 183', async () => {
    sipp = await startSipp({ scenario: 'answer-100rel', timeoutMs: 20_000 });
    ua = await createSipUserAgent({ bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, log, timers: { t1: 250 } });
    const r = await ua.invite({
      requestUri: `sip:${NUMBER}@${sipp.hostPort}`, from: 'sip:callpay@127.0.0.1', displayName: 'callpay',
      sdpOffer: crlf(['v=0', 'o=callpay 1 1 IN IP4 127.0.0.1', 's=callpay', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', '']),
      ringTimeoutMs: 15_000, log,
    });
    if (r.kind !== 'answered') throw new Error(`${r.kind} ${r.reason}\n${sipp.logs()}`);
    expect(r.media).toMatchObject({ codec: 'PCMU', remotePort: sipp.mediaPort });
    await r.dialog.bye();
    expect((await sipp.outcome()).code, sipp.logs()).toBe(0);
    const received = parseSipTrace(sipp.messages()).filter((m) => m.direction === 'received');
    const pracks = received.filter((m) => m.firstLine.startsWith('PRACK '));
    expect(pracks.map((m) => /^RAck:\s*(.*)$/im.exec(m.text)?.[1]?.trim())).toEqual(['1 1 INVITE', '2 1 INVITE']);
    expect(received.map((m) => m.firstLine.split(' ')[0])).toEqual(['INVITE', 'PRACK', 'PRACK', 'ACK', 'BYE']);
  });
});

describe('end to end: a payment through a phone that requires 100rel and refreshes its session', { timeout: 90_000 }, () => {
  let w: TestWorld | undefined;
  let sipp: Sipp | undefined;
  const pcap = join(tmpdir(), `callpay-100rel-${process.pid}-${Date.now()}.pcap`);

  afterEach(async () => {
    await w?.close();
    await sipp?.stop();
    rmSync(pcap, { force: true });
  });

  it('PRACKs the reliable 183, refreshes by UPDATE during the call, and the keyed PIN authorizes the payment', async () => {
    writeDtmfPcap(pcap, { digits: '482916#', leadMs: 1500, silencePayloadType: 0, gapMs: 150 });
    sipp = await startSipp({ scenario: 'answer-100rel-dtmf', pcap, vars: { se: '2' }, timeoutMs: 40_000 });
    w = await startCallingWorld(sipp.port, {
      CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000',
      CALLPAY_IVR_RETRY_DELAY_MS: '300',
      CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '2000',
      CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '2000',
    });
    const account = await enrolPrepaid(w, 'alice', '1000', ['--locale', 'en-US']);
    const created = await w.api('POST', '/v1/payments', {
      idem: `100rel-${Math.random()}`,
      body: { amount: 15000, currency: 'TWD', reference: '100rel', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: 'alice' },
    });
    expect(created.body).toMatchObject({ status: 'calling' });
    expect(await finalOf(w, created.body.id)).toMatchObject({ status: 'succeeded' });
    expect(await w.ctx.store.ledger.available(account)).toBe(100000 - 15000);
    expect((await sipp.outcome()).code, sipp.logs()).toBe(0);
    const received = parseSipTrace(sipp.messages()).filter((m) => m.direction === 'received');
    expect(received.filter((m) => m.firstLine.startsWith('PRACK '))).toHaveLength(1);
    expect(received.filter((m) => m.firstLine.startsWith('UPDATE ')).length).toBeGreaterThanOrEqual(1);
  });
});
