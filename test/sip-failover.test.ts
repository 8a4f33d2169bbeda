import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SipUserAgent } from '../src/telephony/sip/index.js';
import { getHeader } from '../src/telephony/sip/message.js';
import { startDnsServer, type DnsRecord, type TestDnsServer } from './helpers/dns-server.js';
import { ANSWER, NUMBER, T1, FakePhone, phoneRequest, uaHarness } from './helpers/fake-phone.js';

const srv = (priority: number, port: number, target: string): DnsRecord => ({ type: 'SRV', priority, weight: 1, port, target });
const loopback: DnsRecord[] = [{ type: 'A', address: '127.0.0.1' }];
const dtmf = (digit: string) => ({ body: `Signal=${digit}\r\nDuration=160\r\n`, headers: ['Content-Type: application/dtmf-relay'] });

/** A TCP port nobody listens on: connecting to it is refused at once. */
async function closedTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * RFC 3263 §4.3 in the user agent: the trunk named by DNS, the INVITE to its first server, and on
 * a 503, no answer (timer B) or a transport failure, to the next one as a new transaction. Fake
 * servers on loopback, a DNS server of the test's own.
 */
describe('SIP user agent: RFC 3263 server location and failover', () => {
  let phone: FakePhone;
  let ua: SipUserAgent;
  let logLines: string[];
  let dns: TestDnsServer;
  let first: FakePhone;
  let second: FakePhone;
  const h = uaHarness();
  const { dial, contact } = h;

  beforeAll(async () => {
    dns = await startDnsServer();
  });
  afterAll(async () => {
    await dns.close();
  });
  beforeEach(async () => {
    ({ phone, logLines } = h.current());
    first = await FakePhone.start();
    second = await FakePhone.start();
    dns.queries.length = 0;
    dns.zone = {
      '_sip._udp.edge.test': [srv(20, second.port, 'two.edge.test'), srv(10, first.port, 'one.edge.test')],
      'one.edge.test': loopback,
      'two.edge.test': loopback,
    };
  });
  afterEach(async () => {
    for (const p of [phone, first, second]) p.answerByes = true; // the dialog's BYE at close is answered at once
    await h.restartUa(T1);
    await first.close();
    await second.close();
  });

  const viaProxy = (proxy = 'edge.test', extra: Parameters<typeof h.restartUa>[1] = {}) =>
    h.restartUa(T1, { outboundProxy: proxy, dnsServers: [dns.server], dnsTimeoutMs: 1000, ...extra });

  it('a 503 from the first server: the INVITE goes to the next as a new transaction, and both are trusted', async () => {
    ua = await viaProxy();
    const result = dial();
    const one = await first.request('INVITE');
    first.respond(one, 100, 'Trying');
    first.respond(one, 503, 'Service Unavailable', { toTag: 'down' });
    const ackOf503 = await first.request('ACK');
    expect(ackOf503.msg.core.via.branch).toBe(one.msg.core.via.branch);

    const two = await second.request('INVITE');
    expect(two.msg.uri).toBe(one.msg.uri);
    expect(two.msg.core.callId).toBe(one.msg.core.callId);
    expect(two.msg.core.from.tag).toBe(one.msg.core.from.tag);
    expect(two.msg.core.cseq).toEqual({ seq: 2, method: 'INVITE' });
    expect(two.msg.core.via.branch).not.toBe(one.msg.core.via.branch);
    expect(two.msg.body).toBe(one.msg.body);
    second.respond(two, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact(), 'Content-Type: application/sdp'] });
    const r = await result;
    if (r.kind !== 'answered') throw new Error(`${r.kind}: ${r.reason}`);
    expect(r.callId).toBe(one.msg.core.callId);
    await phone.request('ACK'); // in-dialog requests go to the remote target (Contact)

    // The server used, the one that failed (both resolved for the proxy) and the phone are trusted; no one else.
    const digits: string[] = [];
    r.dialog.onDtmfInfo((d) => digits.push(d));
    const forger = await FakePhone.start();
    try {
      let seq = 2;
      for (const from of [second, first, phone]) {
        from.send(phoneRequest(from, two, 'ph1', 'INFO', seq++, dtmf(String(seq))), ua.local);
        await from.response(200, 'INFO');
      }
      forger.send(phoneRequest(forger, two, 'ph1', 'INFO', seq++, dtmf('0')), ua.local);
      await forger.response(403, 'INFO');
    } finally {
      await forger.close();
    }
    expect(digits).toEqual(['3', '4', '5']);
    const logs = logLines.join('');
    expect(logs).toContain(`"failedHop":"127.0.0.1:${first.port}/udp"`);
    expect(logs).toContain(`"nextHop":"127.0.0.1:${second.port}/udp"`);
    expect(getHeader(two.msg, 'to')).not.toContain('tag=');
  });

  it('no answer at all from the first server: the next one after timer B', async () => {
    ua = await viaProxy();
    const result = dial();
    const two = await second.request('INVITE', 64 * T1 + 5_000);
    const tries = first.requests('INVITE');
    expect(tries.length).toBeGreaterThanOrEqual(3); // the first INVITE and its retransmissions (timer A)
    expect(new Set(tries.map((t) => t.msg.core.via.branch)).size).toBe(1);
    expect(two.at - tries[0]!.at).toBeGreaterThanOrEqual(64 * T1 - 50);
    expect(two.msg.core.cseq.seq).toBe(2);
    second.respond(two, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact(), 'Content-Type: application/sdp'] });
    expect((await result).kind).toBe('answered');
    await phone.request('ACK');
  });

  it('the ring timeout bounds the whole attempt, failover included', async () => {
    ua = await viaProxy();
    const r = await dial({ ringTimeoutMs: 1_000 }); // timer B (64 × T1) would come later
    expect(r).toMatchObject({ kind: 'no_answer', sipStatus: null, reason: 'ring timeout' });
    await first.roundTrip(ua.local);
    expect(second.requests('INVITE')).toEqual([]);
  });

  it('a TCP server that refuses the connection: the next server at once (transport error)', async () => {
    const refused = await closedTcpPort();
    dns.zone = {
      'edge.test': [
        { type: 'NAPTR', order: 10, preference: 1, flags: 's', service: 'SIP+D2T', replacement: '_sip._tcp.edge.test' },
        { type: 'NAPTR', order: 20, preference: 1, flags: 's', service: 'SIP+D2U', replacement: '_sip._udp.edge.test' },
      ],
      '_sip._tcp.edge.test': [srv(10, refused, 'one.edge.test')],
      '_sip._udp.edge.test': [srv(10, second.port, 'two.edge.test')],
      'one.edge.test': loopback,
      'two.edge.test': loopback,
    };
    ua = await viaProxy();
    const started = Date.now();
    const result = dial();
    const two = await second.request('INVITE');
    expect(Date.now() - started).toBeLessThan(64 * T1);
    expect(two.msg.core.cseq.seq).toBe(2);
    second.respond(two, 486, 'Busy Here', { toTag: 'ph1' });
    expect(await result).toMatchObject({ kind: 'busy', sipStatus: 486 }); // other final responses end it as before
    expect(logLines.join('')).toContain(`"failedHop":"127.0.0.1:${refused}/tcp"`);
  });

  it('every server answers 503: the call fails with the last 503', async () => {
    ua = await viaProxy();
    const result = dial();
    const one = await first.request('INVITE');
    first.respond(one, 503, 'Service Unavailable', { toTag: 'a' });
    const two = await second.request('INVITE');
    second.respond(two, 503, 'Service Unavailable', { toTag: 'b' });
    expect(await result).toMatchObject({ kind: 'failed', sipStatus: 503 });
    await second.request('ACK');
  });

  it('a proxy name that resolves to nothing: failed with the reason, nothing sent', async () => {
    ua = await viaProxy('nowhere.test');
    const r = await dial();
    expect(r).toMatchObject({ kind: 'failed', sipStatus: null });
    if (r.kind !== 'answered') expect(r.reason).toMatch(/cannot resolve the outbound proxy nowhere\.test/);
    expect(dns.queries).toEqual(expect.arrayContaining(['NAPTR nowhere.test', 'SRV _sip._udp.nowhere.test', 'A nowhere.test']));
    await first.roundTrip(ua.local);
    expect(first.requests('INVITE').concat(second.requests('INVITE'), phone.requests('INVITE'))).toEqual([]);
  });

  it('an abort while DNS has not answered: reported at once, and no INVITE follows', async () => {
    dns.zone = { 'slow.test': 'silent', '_sip._udp.slow.test': 'silent', '_sip._tcp.slow.test': 'silent' };
    ua = await viaProxy('slow.test');
    const abort = new AbortController();
    const result = dial({ signal: abort.signal });
    setTimeout(() => abort.abort(), 100);
    expect(await result).toMatchObject({ kind: 'failed', reason: 'aborted' });
  });

  it('no outbound proxy: the request URI\'s host name is located the same way', async () => {
    dns.zone = { '_sip._udp.phone.test': [srv(10, phone.port, 'ph.phone.test')], 'ph.phone.test': loopback };
    ua = await h.restartUa(T1, { dnsServers: [dns.server], dnsTimeoutMs: 1000 });
    const result = dial({ requestUri: `sip:${NUMBER}@phone.test;user=phone` });
    const invite = await phone.request('INVITE');
    expect(invite.msg.uri).toBe(`sip:${NUMBER}@phone.test;user=phone`);
    phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [contact(), 'Content-Type: application/sdp'] });
    expect((await result).kind).toBe('answered');
    await phone.request('ACK');
  });
});
