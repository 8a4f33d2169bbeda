import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, beforeEach, expect } from 'vitest';
import { createLogger, type Logger } from '../../src/log.js';
import { createSipUserAgent, type InviteRequest, type InviteResult, type SipUserAgent, type SipUserAgentOptions } from '../../src/telephony/sip/index.js';
import type { HostPort } from '../../src/telephony/sip/headers.js';
import { getHeader, getHeaders, parseMessage, type IncomingMessage, type IncomingRequest } from '../../src/telephony/sip/message.js';
import { Inbox } from './inbox.js';

/**
 * A tiny fake phone for the user agent's tests: a second UDP socket on loopback that a test drives
 * by hand, one message at a time (the real-peer tests with sipp live elsewhere), and the per-test
 * harness around it.
 */

export const NUMBER = '+886912345678';
export const PASSWORD = 'trunk-secret-pw';
export const T1 = 50;
/** The harness UA's longest retransmission interval (t2 = 8 × t1). */
export const T2 = 8 * T1;

export const crlf = (lines: string[]) => lines.join('\r\n');

/** A UAS's response to `m`: its Vias, From, To (+ tag on the first answer), Call-ID and CSeq. */
export function responseText(m: IncomingMessage, status: number, reason: string, opts: { toTag?: string; body?: string; headers?: string[] } = {}): string {
  const to = getHeader(m, 'to') ?? '';
  return crlf([
    `SIP/2.0 ${status} ${reason}`,
    ...getHeaders(m, 'via').map((v) => `Via: ${v}`),
    `From: ${getHeader(m, 'from')}`,
    `To: ${opts.toTag && !m.core.to.tag ? `${to};tag=${opts.toTag}` : to}`,
    `Call-ID: ${m.core.callId}`,
    `CSeq: ${m.core.cseq.seq} ${m.core.cseq.method}`,
    ...(opts.headers ?? []),
    `Content-Length: ${Buffer.byteLength(opts.body ?? '')}`,
    '',
    opts.body ?? '',
  ]);
}
export const OFFER = crlf(['v=0', 'o=callpay 1 1 IN IP4 127.0.0.1', 's=callpay', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0 8 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:20', 'a=sendrecv', '']);
export const ANSWER = crlf(['v=0', 'o=phone 9 9 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 41000 RTP/AVP 8 96', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:96 telephone-event/8000', '']);

export interface Received {
  msg: IncomingMessage;
  raw: string;
  source: HostPort;
  at: number;
}

type Req = Received & { msg: IncomingRequest };

/** The far end: records every datagram, answers what the test tells it to. */
export class FakePhone {
  readonly all: Received[] = [];
  /** Set while the UA closes: its BYEs are answered so that close() need not wait them out. */
  answerByes = false;
  private readonly inbox = new Inbox<Received>('the fake phone');

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
  ) {
    socket.on('message', (buf, rinfo) => {
      const parsed = parseMessage(buf);
      if (!parsed.ok) throw new Error(`the UA sent a malformed message: ${parsed.error.code}`);
      const r: Received = { msg: parsed.message, raw: buf.toString(), source: { host: rinfo.address, port: rinfo.port }, at: Date.now() };
      this.all.push(r);
      if (this.answerByes && r.msg.type === 'request' && r.msg.method === 'BYE') this.respond(r, 200, 'OK');
      this.inbox.push(r);
    });
  }

  static async start(): Promise<FakePhone> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new FakePhone(socket, socket.address().port);
  }

  next(pred: (r: Received) => boolean, timeoutMs = 3000): Promise<Received> {
    return this.inbox.next(pred, timeoutMs);
  }

  async request(method: string, timeoutMs?: number): Promise<Req> {
    return (await this.next((r) => r.msg.type === 'request' && r.msg.method === method, timeoutMs)) as Req;
  }

  response(status: number, method: string): Promise<Received> {
    return this.next((r) => r.msg.type === 'response' && r.msg.status === status && r.msg.core.cseq.method === method);
  }

  requests(method: string): Req[] {
    return this.all.filter((r): r is Req => r.msg.type === 'request' && r.msg.method === method);
  }

  send(text: string, to: HostPort): void {
    this.socket.send(text, to.port, to.host);
  }

  /** Answers a request the way a UAS does: its Vias, From, To (+ tag), Call-ID and CSeq. */
  respond(req: Received, status: number, reason: string, opts: { toTag?: string; body?: string; headers?: string[] } = {}): string {
    const text = responseText(req.msg, status, reason, opts);
    this.send(text, req.source);
    return text;
  }

  /**
   * A barrier: an out-of-dialog OPTIONS to the UA, and its 200. The UA handles datagrams in arrival
   * order and sends on one socket, so once that 200 is here, whatever it sent on account of anything
   * the phone sent earlier is here too: "nothing more came" can then be checked exactly.
   */
  async roundTrip(ua: HostPort): Promise<void> {
    const callId = `barrier-${randomBytes(6).toString('hex')}`;
    this.send(
      crlf([
        `OPTIONS sip:callpay@${ua.host}:${ua.port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK${randomBytes(6).toString('hex')}`,
        'Max-Forwards: 70',
        'From: <sip:barrier@127.0.0.1>;tag=barrier',
        'To: <sip:callpay@127.0.0.1>',
        `Call-ID: ${callId}`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ]),
      ua,
    );
    await this.next((r) => r.msg.type === 'response' && r.msg.core.callId === callId);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** A request from the phone inside the dialog that `invite`/`ok` set up. */
export function phoneRequest(phone: FakePhone, invite: Req, toTag: string, method: string, cseq: number, opts: InDialogOptions = {}): string {
  return inDialogRequestText(invite, toTag, method, cseq, { requestUri: 'sip:callpay@127.0.0.1', via: `UDP 127.0.0.1:${phone.port}` }, opts);
}

export interface InDialogOptions {
  body?: string;
  headers?: string[];
  branch?: string;
}

/** The text of a phone's in-dialog request: From/To swapped from the INVITE, the phone's tag, our Call-ID. */
export function inDialogRequestText(invite: { msg: IncomingRequest }, toTag: string, method: string, cseq: number, where: { requestUri: string; via: string }, opts: InDialogOptions = {}): string {
  return crlf([
    `${method} ${where.requestUri} SIP/2.0`,
    `Via: SIP/2.0/${where.via};branch=${opts.branch ?? `z9hG4bK${randomBytes(6).toString('hex')}`}`,
    'Max-Forwards: 70',
    `From: ${getHeader(invite.msg, 'to')};tag=${toTag}`,
    `To: ${getHeader(invite.msg, 'from')}`,
    `Call-ID: ${invite.msg.core.callId}`,
    `CSeq: ${cseq} ${method}`,
    ...(opts.headers ?? []),
    `Content-Length: ${Buffer.byteLength(opts.body ?? '')}`,
    '',
    opts.body ?? '',
  ]);
}

export const md5 = (s: string) => createHash('md5').update(s).digest('hex');

export function authParams(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of value.replace(/^Digest\s+/, '').matchAll(/(\w+)=("([^"]*)"|[^,\s]+)/g)) out[m[1] ?? ''] = m[3] ?? m[2] ?? '';
  return out;
}


/** Registers per-test setup and teardown: a fresh phone, user agent and captured log for each test. */
export function uaHarness() {
  let phone: FakePhone;
  let ua: SipUserAgent;
  let logLines: string[];
  let log: Logger;

  async function startUa(t1 = T1, extra: Partial<SipUserAgentOptions> = {}): Promise<SipUserAgent> {
    return createSipUserAgent({ bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, timers: { t1, t2: 8 * t1, t4: 10 * t1 }, log, ...extra });
  }

  beforeEach(async () => {
    logLines = [];
    log = createLogger({ level: 'debug', destination: { write: (s: string) => void logLines.push(s) } });
    phone = await FakePhone.start();
    ua = await startUa();
  });

  afterEach(async () => {
    phone.answerByes = true;
    await ua.close();
    await phone.close();
    const logs = logLines.join('');
    expect(logs).not.toContain(NUMBER.slice(1));
    expect(logs).not.toContain(PASSWORD);
  });

  function dial(over: Partial<InviteRequest> = {}): Promise<InviteResult> {
    return ua.invite({
      requestUri: `sip:${NUMBER}@127.0.0.1:${phone.port};user=phone`,
      from: 'sip:callpay@example.com',
      displayName: 'Callpay',
      sdpOffer: OFFER,
      ringTimeoutMs: 10_000,
      log,
      ...over,
    });
  }

  const contact = () => `Contact: <sip:phone@127.0.0.1:${phone.port}>`;

  async function answer(over: Partial<InviteRequest> = {}, okHeaders: string[] = []) {
    const result = dial(over);
    const invite = await phone.request('INVITE');
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1' });
    const ok = phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact(), 'Content-Type: application/sdp', ...okHeaders] });
    const r = await result;
    if (r.kind !== 'answered') throw new Error(`expected answered, got ${r.kind} ${r.reason}`);
    const ack = await phone.request('ACK');
    return { r, invite, ok, ack };
  }


  /** Replaces this test's user agent with one on other timers (or other options). */
  async function restartUa(t1: number, extra: Partial<SipUserAgentOptions> = {}): Promise<SipUserAgent> {
    await ua.close();
    ua = await startUa(t1, extra);
    return ua;
  }

  return { current: () => ({ phone, ua, logLines, log }), startUa, restartUa, dial, answer, contact };
}
