import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../src/log.js';
import { createSipUserAgent, type InviteRequest, type InviteResult, type SipUserAgent } from '../src/telephony/sip/index.js';
import type { HostPort } from '../src/telephony/sip/headers.js';
import { getHeader, getHeaders, parseMessage, type IncomingMessage, type IncomingRequest } from '../src/telephony/sip/message.js';

/**
 * The user agent against a tiny fake phone: a second UDP socket on loopback that the test drives
 * by hand, one message at a time. (The real-peer tests with sipp live elsewhere.)
 */

const NUMBER = '+886912345678';
const PASSWORD = 'trunk-secret-pw';
const T1 = 50;

const crlf = (lines: string[]) => lines.join('\r\n');
const OFFER = crlf(['v=0', 'o=callpay 1 1 IN IP4 127.0.0.1', 's=callpay', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0 8 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:20', 'a=sendrecv', '']);
const ANSWER = crlf(['v=0', 'o=phone 9 9 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 41000 RTP/AVP 8 96', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:96 telephone-event/8000', '']);

interface Received {
  msg: IncomingMessage;
  raw: string;
  source: HostPort;
  at: number;
}

type Req = Received & { msg: IncomingRequest };

/** The far end: records every datagram, answers what the test tells it to. */
class FakePhone {
  readonly all: Received[] = [];
  /** Set while the UA closes: its BYEs are answered so that close() need not wait them out. */
  answerByes = false;
  private readonly queue: Received[] = [];
  private readonly waiters: Array<{ pred: (r: Received) => boolean; resolve: (r: Received) => void }> = [];

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
      const i = this.waiters.findIndex((w) => w.pred(r));
      const waiter = i >= 0 ? this.waiters.splice(i, 1)[0] : undefined;
      if (waiter) waiter.resolve(r);
      else this.queue.push(r);
    });
  }

  static async start(): Promise<FakePhone> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new FakePhone(socket, socket.address().port);
  }

  next(pred: (r: Received) => boolean, timeoutMs = 3000): Promise<Received> {
    const i = this.queue.findIndex(pred);
    const queued = i >= 0 ? this.queue.splice(i, 1)[0] : undefined;
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = { pred, resolve: (r: Received) => (clearTimeout(timer), resolve(r)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error('the fake phone waited in vain'));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
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
    const m = req.msg;
    const to = getHeader(m, 'to') ?? '';
    const text = crlf([
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
    this.send(text, req.source);
    return text;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** A request from the phone inside the dialog that `invite`/`ok` set up. */
function phoneRequest(phone: FakePhone, invite: Req, toTag: string, method: string, cseq: number, opts: { body?: string; headers?: string[]; branch?: string } = {}): string {
  return crlf([
    `${method} sip:callpay@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=${opts.branch ?? `z9hG4bK${randomBytes(6).toString('hex')}`}`,
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

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

function authParams(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of value.replace(/^Digest\s+/, '').matchAll(/(\w+)=("([^"]*)"|[^,\s]+)/g)) out[m[1] ?? ''] = m[3] ?? m[2] ?? '';
  return out;
}

describe('SIP user agent against a fake phone', () => {
  let phone: FakePhone;
  let ua: SipUserAgent;
  let logLines: string[];
  let log: Logger;

  async function startUa(t1 = T1): Promise<SipUserAgent> {
    return createSipUserAgent({ bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, timers: { t1, t2: 8 * t1, t4: 10 * t1 }, log });
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

  it('180 then 200: answered, ACK sent, and sent again for a retransmitted 200', async () => {
    const provisional: number[] = [];
    const result = dial({ onProvisional: (p) => provisional.push(p.status) });
    const invite = await phone.request('INVITE');
    expect(invite.msg.uri).toBe(`sip:${NUMBER}@127.0.0.1:${phone.port};user=phone`);
    expect(invite.msg.core.via.params.has('rport')).toBe(true);
    expect(invite.msg.core.via.branch).toMatch(/^z9hG4bK/);
    expect(invite.msg.core.from).toMatchObject({ displayName: 'Callpay', uri: 'sip:callpay@example.com' });
    expect(invite.msg.core.from.tag).toBeTruthy();
    expect(invite.msg.core.to.tag).toBeNull();
    expect(invite.msg.core.cseq).toEqual({ seq: 1, method: 'INVITE' });
    expect(getHeader(invite.msg, 'contact')).toBe(`<sip:callpay@127.0.0.1:${ua.local.port}>`);
    expect(invite.msg.body).toBe(OFFER);

    phone.respond(invite, 100, 'Trying');
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1' });
    const ok = phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact(), 'Content-Type: application/sdp'] });
    const r = await result;
    expect(r).toMatchObject({ kind: 'answered', status: 200, remoteSdp: ANSWER, media: { codec: 'PCMA', payloadType: 8, telephoneEventPt: 96, remoteHost: '127.0.0.1', remotePort: 41000 } });
    expect(provisional).toEqual([180]);
    if (r.kind !== 'answered') return;
    expect(r.callId).toBe(invite.msg.core.callId);
    expect(r.dialog.callId).toBe(invite.msg.core.callId);

    const ack = await phone.request('ACK');
    expect(ack.msg.uri).toBe(`sip:phone@127.0.0.1:${phone.port}`); // the remote target, from Contact
    expect(ack.msg.core.cseq).toEqual({ seq: 1, method: 'ACK' });
    expect(ack.msg.core.via.branch).not.toBe(invite.msg.core.via.branch); // a 2xx ACK is its own transaction
    expect(ack.msg.core.to.tag).toBe('ph1');
    expect(ack.msg.core.from.tag).toBe(invite.msg.core.from.tag);

    phone.send(ok, ack.source); // our ACK was "lost": the phone retransmits its 200
    const again = await phone.request('ACK');
    expect(again.raw).toBe(ack.raw);
    expect(phone.requests('INVITE')).toHaveLength(1);
  });

  it('183 with SDP is information only: the call is answered by the 200', async () => {
    const early: Array<string | null> = [];
    const result = dial({ onProvisional: (p) => early.push(p.sdp) });
    const invite = await phone.request('INVITE');
    phone.respond(invite, 183, 'Session Progress', { toTag: 'ph1', body: ANSWER, headers: ['Content-Type: application/sdp'] });
    await new Promise((r) => setTimeout(r, 100));
    expect(early).toEqual([ANSWER]);
    phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact(), 'Content-Type: application/sdp'] });
    expect((await result).kind).toBe('answered');
  });

  it.each([
    [486, 'Busy Here', 'busy'],
    [600, 'Busy Everywhere', 'busy'],
    [603, 'Decline', 'rejected'],
    [480, 'Temporarily Unavailable', 'no_answer'],
    [404, 'Not Found', 'failed'],
  ])('%i → %s, with the ACK in the INVITE transaction', async (status, reason, kind) => {
    const result = dial();
    const invite = await phone.request('INVITE');
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1' });
    const final = phone.respond(invite, status, reason, { toTag: 'ph1' });
    expect(await result).toMatchObject({ kind, sipStatus: status });
    const ack = await phone.request('ACK');
    expect(ack.msg.core.via.branch).toBe(invite.msg.core.via.branch);
    expect(ack.msg.uri).toBe(invite.msg.uri);
    expect(ack.msg.core.cseq).toEqual({ seq: 1, method: 'ACK' });
    expect(ack.msg.core.to.tag).toBe('ph1');
    phone.send(final, ack.source); // a retransmitted final response is ACKed again
    await phone.request('ACK');
  });

  it('ring timeout after 180: CANCEL, then 487 → no_answer', async () => {
    const result = dial({ ringTimeoutMs: 300 });
    const invite = await phone.request('INVITE');
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1' });
    const cancel = await phone.request('CANCEL');
    expect(cancel.at - invite.at).toBeGreaterThanOrEqual(250);
    expect(cancel.msg.uri).toBe(invite.msg.uri);
    expect(cancel.msg.core.via.branch).toBe(invite.msg.core.via.branch);
    expect(cancel.msg.core.cseq).toEqual({ seq: 1, method: 'CANCEL' });
    expect(getHeader(cancel.msg, 'to')).toBe(getHeader(invite.msg, 'to'));
    expect(getHeader(cancel.msg, 'from')).toBe(getHeader(invite.msg, 'from'));
    phone.respond(cancel, 200, 'OK', { toTag: 'ph1' });
    phone.respond(invite, 487, 'Request Terminated', { toTag: 'ph1' });
    expect(await result).toMatchObject({ kind: 'no_answer', sipStatus: 487, reason: 'ring timeout' });
    const ack = await phone.request('ACK');
    expect(ack.msg.core.via.branch).toBe(invite.msg.core.via.branch);
  });

  it('abort while ringing: CANCEL, 487 → failed (aborted)', async () => {
    const abort = new AbortController();
    const result = dial({ signal: abort.signal });
    const invite = await phone.request('INVITE');
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1' });
    await new Promise((r) => setTimeout(r, 50));
    abort.abort();
    const cancel = await phone.request('CANCEL');
    phone.respond(cancel, 200, 'OK', { toTag: 'ph1' });
    phone.respond(invite, 487, 'Request Terminated', { toTag: 'ph1' });
    expect(await result).toMatchObject({ kind: 'failed', sipStatus: 487, reason: 'aborted' });
  });

  it('a 200 OK that crosses the CANCEL is ACKed, then hung up with BYE', async () => {
    const result = dial({ ringTimeoutMs: 200 });
    const invite = await phone.request('INVITE');
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1' });
    const cancel = await phone.request('CANCEL');
    phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact(), 'Content-Type: application/sdp'] });
    phone.respond(cancel, 200, 'OK', { toTag: 'ph1' });
    expect(await result).toMatchObject({ kind: 'no_answer', sipStatus: 200, reason: 'ring timeout' });
    const ack = await phone.request('ACK');
    const bye = await phone.request('BYE');
    expect(bye.at).toBeGreaterThanOrEqual(ack.at);
    expect(bye.msg.core.cseq).toEqual({ seq: 2, method: 'BYE' });
    expect(bye.msg.core.to.tag).toBe('ph1');
    phone.respond(bye, 200, 'OK');
  });

  it('401: retried once with a correct Authorization, same Call-ID and From tag, CSeq + 1', async () => {
    const result = dial({ credentials: { username: 'callpay', password: PASSWORD } });
    const first = await phone.request('INVITE');
    phone.respond(first, 401, 'Unauthorized', { toTag: 'auth1', headers: ['WWW-Authenticate: Digest realm="trunk", nonce="n0nce", qop="auth", algorithm=MD5, opaque="op4que"'] });
    const ack401 = await phone.request('ACK');
    expect(ack401.msg.core.via.branch).toBe(first.msg.core.via.branch);

    const second = await phone.request('INVITE');
    expect(second.msg.core.callId).toBe(first.msg.core.callId);
    expect(second.msg.core.from.tag).toBe(first.msg.core.from.tag);
    expect(second.msg.core.to.tag).toBeNull();
    expect(second.msg.core.cseq).toEqual({ seq: 2, method: 'INVITE' });
    expect(second.msg.core.via.branch).not.toBe(first.msg.core.via.branch);
    const auth = getHeader(second.msg, 'authorization') ?? '';
    const p = authParams(auth);
    expect(p).toMatchObject({ username: 'callpay', realm: 'trunk', nonce: 'n0nce', uri: second.msg.uri, qop: 'auth', nc: '00000001', opaque: 'op4que' });
    const expected = md5(`${md5(`callpay:trunk:${PASSWORD}`)}:n0nce:00000001:${p.cnonce}:auth:${md5(`INVITE:${second.msg.uri}`)}`);
    expect(p.response).toBe(expected);

    phone.respond(second, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact()] });
    expect((await result).kind).toBe('answered');
    const ack = await phone.request('ACK');
    expect(ack.msg.core.cseq).toEqual({ seq: 2, method: 'ACK' });
    expect(getHeader(ack.msg, 'authorization')).toBe(auth); // §13.2.2.4: the ACK carries the INVITE's credentials
  });

  it('407: Proxy-Authorization; a second challenge is not retried again', async () => {
    const result = dial({ credentials: { username: 'callpay', password: PASSWORD } });
    const challenge = ['Proxy-Authenticate: Digest realm="proxy", nonce="p1", qop="auth"'];
    const first = await phone.request('INVITE');
    phone.respond(first, 407, 'Proxy Authentication Required', { toTag: 'a', headers: challenge });
    const second = await phone.request('INVITE');
    expect(getHeader(second.msg, 'proxy-authorization')).toMatch(/^Digest .*realm="proxy"/);
    expect(getHeader(second.msg, 'authorization')).toBeUndefined();
    phone.respond(second, 407, 'Proxy Authentication Required', { toTag: 'b', headers: challenge });
    expect(await result).toMatchObject({ kind: 'failed', sipStatus: 407, reason: 'authentication rejected' });
    await new Promise((r) => setTimeout(r, 200));
    expect(phone.requests('INVITE')).toHaveLength(2);
  });

  it('401 without credentials → failed, status kept', async () => {
    const result = dial();
    const invite = await phone.request('INVITE');
    phone.respond(invite, 401, 'Unauthorized', { toTag: 'a', headers: ['WWW-Authenticate: Digest realm="t", nonce="n"'] });
    expect(await result).toMatchObject({ kind: 'failed', sipStatus: 401 });
  });

  it('Record-Route becomes the route set, reversed, for ACK and BYE', async () => {
    const rr = [`<sip:rr1@127.0.0.1:${0};lr>`, `<sip:rr2@127.0.0.1:${0};lr>`].map((r) => r.replace(':0;', `:${phone.port};`));
    const { r, ack } = await answer({}, [`Record-Route: ${rr[0]}, ${rr[1]}`]);
    expect(getHeaders(ack.msg, 'route')).toEqual([rr[1], rr[0]]);
    expect(ack.msg.uri).toBe(`sip:phone@127.0.0.1:${phone.port}`);
    const bye = r.dialog.bye();
    const byeReq = await phone.request('BYE');
    expect(getHeaders(byeReq.msg, 'route')).toEqual([rr[1], rr[0]]);
    phone.respond(byeReq, 200, 'OK');
    await bye;
  });

  it('local hang-up: BYE with the next CSeq, idempotent, dialog ends "local"', async () => {
    const { r, ack } = await answer();
    const first = r.dialog.bye();
    const second = r.dialog.bye();
    expect(second).toBe(first);
    const bye = await phone.request('BYE');
    expect(bye.msg.core.cseq).toEqual({ seq: 2, method: 'BYE' });
    expect(bye.msg.uri).toBe(`sip:phone@127.0.0.1:${phone.port}`);
    expect(bye.msg.core.callId).toBe(ack.msg.core.callId);
    expect(bye.msg.core.to.tag).toBe('ph1');
    phone.respond(bye, 200, 'OK');
    await first;
    expect(await r.dialog.ended).toBe('local');
    expect(phone.requests('BYE')).toHaveLength(1);
  });

  it('BYE from the phone: 200 sent (again for a retransmission), dialog ends "remote"', async () => {
    const { r, invite } = await answer();
    let told = 0;
    r.dialog.onRemoteBye(() => told++);
    const bye = phoneRequest(phone, invite, 'ph1', 'BYE', 1);
    phone.send(bye, ua.local);
    const ok = await phone.response(200, 'BYE');
    expect(ok.msg.core.to.tag).toBe(invite.msg.core.from.tag);
    expect(await r.dialog.ended).toBe('remote');
    expect(told).toBe(1);
    phone.send(bye, ua.local);
    const again = await phone.response(200, 'BYE');
    expect(again.raw).toBe(ok.raw);
    await r.dialog.bye(); // nothing left to end
    expect(phone.requests('BYE')).toHaveLength(0);
  });

  it('in-dialog OPTIONS and INFO get 200; DTMF from dtmf-relay and dtmf bodies is delivered', async () => {
    const { r, invite } = await answer();
    phone.send(phoneRequest(phone, invite, 'ph1', 'OPTIONS', 1), ua.local);
    const options = await phone.response(200, 'OPTIONS');
    expect(getHeaders(options.msg, 'allow')).toContain('INFO');

    const info = (cseq: number, type: string, body: string) => phoneRequest(phone, invite, 'ph1', 'INFO', cseq, { body, headers: [`Content-Type: ${type}`] });
    phone.send(info(2, 'application/dtmf-relay', 'Signal=5\r\nDuration=160\r\n'), ua.local);
    await phone.response(200, 'INFO');
    const digits: Array<[string, number | null]> = [];
    r.dialog.onDtmfInfo((d, ms) => digits.push([d, ms])); // registered late: the first digit was kept
    phone.send(info(3, 'application/dtmf', '#'), ua.local);
    await phone.response(200, 'INFO');
    phone.send(info(4, 'application/dtmf-relay', 'Signal=10\r\nDuration=100'), ua.local);
    await phone.response(200, 'INFO');
    phone.send(info(5, 'application/dtmf-relay', 'Signal=X\r\n'), ua.local);
    await phone.response(200, 'INFO');
    phone.send(info(6, 'application/media_control+xml', '<xml/>'), ua.local);
    await phone.response(200, 'INFO');
    expect(digits).toEqual([['5', 160], ['#', null], ['*', 100]]);
  });

  it('re-INVITE: 200 with our unchanged SDP, retransmitted until the ACK; target refreshed', async () => {
    const { r, invite } = await answer();
    const offers: Array<string | null> = [];
    r.dialog.onReinvite((sdp) => offers.push(sdp));
    const hold = ANSWER.replace('c=IN IP4 127.0.0.1', 'c=IN IP4 0.0.0.0');
    const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    const reinvite = phoneRequest(phone, invite, 'ph1', 'INVITE', 2, { body: hold, branch, headers: ['Content-Type: application/sdp', `Contact: <sip:moved@127.0.0.1:${phone.port}>`] });
    phone.send(reinvite, ua.local);
    const ok = await phone.response(200, 'INVITE');
    expect(ok.msg.body).toBe(OFFER);
    expect(getHeader(ok.msg, 'content-type')).toBe('application/sdp');
    expect(offers).toEqual([hold]);
    const retransmitted = await phone.response(200, 'INVITE'); // no ACK yet
    expect(retransmitted.raw).toBe(ok.raw);
    phone.send(phoneRequest(phone, invite, 'ph1', 'ACK', 2), ua.local);
    await new Promise((res) => setTimeout(res, 400));
    const count = phone.all.filter((m) => m.msg.type === 'response' && m.msg.core.cseq.method === 'INVITE').length;
    await new Promise((res) => setTimeout(res, 400));
    expect(phone.all.filter((m) => m.msg.type === 'response' && m.msg.core.cseq.method === 'INVITE').length).toBe(count);

    const done = r.dialog.bye();
    const bye = await phone.request('BYE');
    expect(bye.msg.uri).toBe(`sip:moved@127.0.0.1:${phone.port}`);
    phone.respond(bye, 200, 'OK');
    await done;
  });

  it('an answer without PCMU/PCMA: ACK, BYE, failed with a clear reason', async () => {
    const result = dial();
    const invite = await phone.request('INVITE');
    const g729 = ANSWER.replace('RTP/AVP 8 96', 'RTP/AVP 18 96').replace('a=rtpmap:8 PCMA/8000', 'a=rtpmap:18 G729/8000');
    phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: g729, headers: [contact()] });
    expect(await result).toMatchObject({ kind: 'failed', sipStatus: 200, reason: 'SDP answer without a usable codec' });
    await phone.request('ACK');
    const bye = await phone.request('BYE');
    phone.respond(bye, 200, 'OK');
  });

  it('ignores responses for unknown transactions and garbage, then still places a call', async () => {
    phone.send(
      crlf(['SIP/2.0 200 OK', `Via: SIP/2.0/UDP 127.0.0.1:${ua.local.port};branch=z9hG4bKnotours`, 'From: <sip:a@b>;tag=1', 'To: <sip:c@d>;tag=2', 'Call-ID: stranger', 'CSeq: 1 INVITE', 'Content-Length: 0', '', '']),
      ua.local,
    );
    phone.send('\u0000\u0001garbage\r\n\r\n', ua.local);
    phone.send(randomBytes(900).toString('latin1'), ua.local);
    phone.send('INVITE sip:x SIP/2.0\r\nContent-Length: 99999\r\n\r\n', ua.local);
    const { r } = await answer();
    expect(r.kind).toBe('answered');
    expect(phone.requests('ACK')).toHaveLength(1); // nothing was ACKed for the stranger's 200
    expect(logLines.join('')).toContain('response for no known transaction dropped');
    expect(logLines.join('')).toContain('dropped malformed SIP datagram');
  });

  it('answers out-of-dialog OPTIONS, refuses unknown dialogs with 481 and incoming calls with 603', async () => {
    const fake = (method: string, toTag: string | null) =>
      crlf([
        `${method} sip:callpay@127.0.0.1 SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=z9hG4bK${randomBytes(6).toString('hex')}`,
        'From: <sip:probe@127.0.0.1>;tag=p',
        `To: <sip:callpay@127.0.0.1>${toTag ? `;tag=${toTag}` : ''}`,
        `Call-ID: ${randomBytes(6).toString('hex')}`,
        `CSeq: 1 ${method}`,
        'Content-Length: 0',
        '',
        '',
      ]);
    phone.send(fake('OPTIONS', null), ua.local);
    await phone.response(200, 'OPTIONS');
    phone.send(fake('BYE', 'nope'), ua.local);
    await phone.response(481, 'BYE');
    phone.send(fake('INVITE', null), ua.local);
    await phone.response(603, 'INVITE');
  });

  it('a silent peer: INVITE retransmitted on timer A, doubling; timer B → failed', async () => {
    await ua.close();
    const t1 = 20;
    ua = await startUa(t1);
    const started = Date.now();
    const r = await dial();
    const elapsed = Date.now() - started;
    expect(r).toMatchObject({ kind: 'failed', sipStatus: null });
    expect(elapsed).toBeGreaterThanOrEqual(64 * t1 - 5);
    const invites = phone.requests('INVITE');
    expect(invites.length).toBeGreaterThanOrEqual(6);
    expect(new Set(invites.map((i) => i.raw)).size).toBe(1); // the same request, same branch
    const gaps = invites.slice(1).map((inv, i) => inv.at - (invites[i]?.at ?? 0));
    expect(gaps[0]).toBeGreaterThanOrEqual(t1 - 5);
    for (let i = 1; i < Math.min(gaps.length, 5); i++) expect(gaps[i]).toBeGreaterThan((gaps[i - 1] ?? 0) * 1.4);
  });

  it('a BYE nobody answers: retransmitted on timer E up to T2, given up on timer F', async () => {
    await ua.close();
    const t1 = 20;
    ua = await startUa(t1); // T2 = 8 * T1
    const { r } = await answer();
    const started = Date.now();
    await r.dialog.bye();
    expect(Date.now() - started).toBeGreaterThanOrEqual(64 * t1 - 5);
    const byes = phone.requests('BYE');
    expect(byes.length).toBeGreaterThanOrEqual(8);
    expect(new Set(byes.map((b) => b.raw)).size).toBe(1);
    const gaps = byes.slice(1).map((b, i) => b.at - (byes[i]?.at ?? 0));
    expect(Math.max(...gaps)).toBeLessThan(8 * t1 + 40);
    expect(await r.dialog.ended).toBe('local');
  });

  it('a second 2xx from another fork is ACKed and hung up; the first call stays', async () => {
    const result = dial();
    const invite = await phone.request('INVITE');
    phone.respond(invite, 200, 'OK', { toTag: 'forkA', body: ANSWER, headers: [contact()] });
    const r = await result;
    expect(r.kind).toBe('answered');
    await phone.request('ACK');
    phone.respond(invite, 200, 'OK', { toTag: 'forkB', body: ANSWER, headers: [contact()] });
    const ackB = await phone.request('ACK');
    expect(ackB.msg.core.to.tag).toBe('forkB');
    const byeB = await phone.request('BYE');
    expect(byeB.msg.core.to.tag).toBe('forkB');
    phone.respond(byeB, 200, 'OK');
    if (r.kind === 'answered') {
      const state = await Promise.race([r.dialog.ended, new Promise((res) => setTimeout(() => res('up'), 100))]);
      expect(state).toBe('up');
    }
  });

  it('close() while ringing: CANCEL sent, result reported at once', async () => {
    const result = dial();
    const invite = await phone.request('INVITE');
    phone.respond(invite, 180, 'Ringing', { toTag: 'ph1' });
    await new Promise((r) => setTimeout(r, 50));
    await ua.close();
    expect(await result).toMatchObject({ kind: 'failed', reason: 'SIP user agent closed' });
    await phone.request('CANCEL');
  });
});
