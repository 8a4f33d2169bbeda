import { createSocket, type Socket } from 'node:dgram';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEmbeddedEngine } from '../src/telephony/embedded.js';
import type { CallEngine } from '../src/telephony/engine.js';
import { enrolPrepaid, finalOf, startCallingWorld, type TestWorld } from './helpers/daemon.js';
import { startDnsServer, type DnsRecord, type TestDnsServer } from './helpers/dns-server.js';
import { writeDtmfPcap } from './helpers/pcap.js';
import { freeRtpPortRange } from './helpers/rtp-phone.js';
import { parseSipTrace, startSipp, type Sipp } from './helpers/sipp.js';

const log = pino({ level: 'silent' });
const PIN_INPUT = { minDigits: 1, maxDigits: 8, terminators: '#', firstDigitTimeoutMs: 5000, interDigitTimeoutMs: 2000 };
const T1 = 50;

/** The trunk "trunk.test" as two SRV servers on loopback: priority 10 first, then 20. */
function trunkZone(firstPort: number, secondPort: number): Record<string, DnsRecord[]> {
  return {
    '_sip._udp.trunk.test': [
      { type: 'SRV', priority: 20, weight: 1, port: secondPort, target: 'two.trunk.test' },
      { type: 'SRV', priority: 10, weight: 1, port: firstPort, target: 'one.trunk.test' },
    ],
    'one.trunk.test': [{ type: 'A', address: '127.0.0.1' }],
    'two.trunk.test': [{ type: 'A', address: '127.0.0.1' }],
  };
}

/** The INVITEs a sipp received: CSeq, Call-ID and branch, from its message trace. */
function invitesAt(s: Sipp): Array<{ cseq: string; callId: string; branch: string }> {
  return parseSipTrace(s.messages())
    .filter((m) => m.direction === 'received' && m.firstLine.startsWith('INVITE '))
    .map((m) => ({
      cseq: /^CSeq:\s*(\d+)/im.exec(m.text)?.[1] ?? '',
      callId: /^Call-ID:\s*(\S+)/im.exec(m.text)?.[1] ?? '',
      branch: /branch=([^;\s]+)/i.exec(m.text)?.[1] ?? '',
    }));
}

/**
 * RFC 3263 failover against real peers: DNS from a server of the test's own, sipp as the trunk's
 * servers (one out of service with 503, or a UDP socket that never answers) and as the phone that
 * keys the PIN.
 */
describe('SRV failover to a second trunk server, against sipp', { timeout: 90_000 }, () => {
  let dns: TestDnsServer;
  const sipps: Sipp[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];
  let engine: CallEngine | undefined;
  let world: TestWorld | undefined;

  beforeEach(async () => {
    dns = await startDnsServer();
  });
  afterEach(async () => {
    await engine?.close();
    await world?.close();
    engine = undefined;
    world = undefined;
    for (const s of sipps.splice(0)) await s.stop();
    for (const c of cleanups.splice(0)) await c();
    await dns.close();
  });

  async function sipp(scenario: string, digits?: string): Promise<Sipp> {
    let pcap: string | undefined;
    if (digits !== undefined) {
      pcap = join(tmpdir(), `callpay-srv-${process.pid}-${Date.now()}-${sipps.length}.pcap`);
      writeDtmfPcap(pcap, { digits, leadMs: 1000, silencePayloadType: 0, gapMs: 150 });
      const file = pcap;
      cleanups.push(() => rmSync(file, { force: true }));
    }
    const s = await startSipp({ scenario, timeoutMs: 40_000, ...(pcap ? { pcap } : {}) });
    sipps.push(s);
    return s;
  }

  async function embedded(ringTimeoutMs = 20_000): Promise<CallEngine> {
    const rtp = await freeRtpPortRange(8);
    engine = await createEmbeddedEngine({
      sip: {
        bindHost: '127.0.0.1', bindPort: 0, outboundProxy: 'trunk.test', requestUri: 'sip:{number}@trunk.test;user=phone',
        from: 'sip:callpay@127.0.0.1', displayName: 'callpay', username: null, password: null, ringTimeoutMs, dnsServers: [dns.server],
      },
      rtp: { bindHost: '127.0.0.1', ...rtp },
      log,
      timers: { t1: T1 },
    });
    return engine;
  }

  it('the first server answers 503: the second takes the call and the PIN is keyed there', async () => {
    const down = await sipp('reply-503');
    const up = await sipp('answer-dtmf', '4411#');
    dns.zone = trunkZone(down.port, up.port);
    const r = await (await embedded()).dial({ number: '+886912345678', log });
    if (r.kind !== 'answered') throw new Error(`${r.kind}: ${r.reason}\n${down.logs()}\n${up.logs()}`);
    expect(await r.call.collect(PIN_INPUT)).toEqual({ kind: 'digits', digits: '4411', reason: 'terminator', terminator: '#' });
    await r.call.hangup();
    expect(await r.call.ended).toMatchObject({ outcome: 'answered', sipStatus: 200 });
    expect((await down.outcome()).code, down.logs()).toBe(0); // its 503 was ACKed
    expect((await up.outcome()).code, up.logs()).toBe(0);
    const [one] = invitesAt(down);
    const [two] = invitesAt(up);
    expect(one).toMatchObject({ cseq: '1' });
    expect(two).toMatchObject({ cseq: '2', callId: one!.callId });
    expect(two!.branch).not.toBe(one!.branch);
  });

  it('the first server never answers: the second after timer B', async () => {
    const silent: Socket = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => silent.close(() => resolve())));
    let heard = 0;
    silent.on('message', () => (heard += 1));
    const up = await sipp('answer-dtmf', '12#');
    dns.zone = trunkZone(silent.address().port, up.port);
    const started = Date.now();
    const r = await (await embedded()).dial({ number: '+886912345678', log });
    if (r.kind !== 'answered') throw new Error(`${r.kind}: ${r.reason}\n${up.logs()}`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(64 * T1 - 50);
    expect(heard).toBeGreaterThanOrEqual(3); // the INVITE and its retransmissions
    expect(await r.call.collect(PIN_INPUT)).toMatchObject({ kind: 'digits', digits: '12' });
    await r.call.hangup();
    expect((await up.outcome()).code, up.logs()).toBe(0);
  });

  it('every server answers 503: the call fails with the 503', async () => {
    const a = await sipp('reply-503');
    const b = await sipp('reply-503');
    dns.zone = trunkZone(a.port, b.port);
    const r = await (await embedded()).dial({ number: '+886912345678', log });
    expect(r).toMatchObject({ kind: 'failed', sipStatus: 503 });
    expect((await a.outcome()).code, a.logs()).toBe(0);
    expect((await b.outcome()).code, b.logs()).toBe(0);
  });

  describe('through the daemon, outboundProxy = a host name, dnsServers = the test server', () => {
    const callingWorld = (phonePort: number) =>
      startCallingWorld(phonePort, {
        CALLPAY_TELEPHONY_SIP_OUTBOUND_PROXY: 'trunk.test',
        CALLPAY_TELEPHONY_SIP_DNS_SERVERS: dns.server,
        CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '10000',
        CALLPAY_IVR_RETRY_DELAY_MS: '300',
        CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '4000',
        CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '2000',
      });
    const pay = (t: TestWorld) =>
      t.api('POST', '/v1/payments', { idem: `srv-${Math.random()}`, body: { amount: 15000, currency: 'TWD', reference: 'srv', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: 'alice' } });

    it('a payment whose call fails over from a 503 to the second server succeeds', async () => {
      const down = await sipp('reply-503');
      const up = await sipp('answer-dtmf', '482916#');
      dns.zone = trunkZone(down.port, up.port);
      world = await callingWorld(up.port);
      const account = await enrolPrepaid(world, 'alice', '1000', ['--locale', 'en-US']);
      const created = await pay(world);
      expect(created.body).toMatchObject({ status: 'calling' });
      expect(await finalOf(world, created.body.id)).toMatchObject({ status: 'succeeded' });
      expect(await world.ctx.store.ledger.available(account)).toBe(100000 - 15000);
      const attempts = world.db.prepare('SELECT outcome, sip_status AS sipStatus FROM call_attempts WHERE payment_id = ?').all(created.body.id);
      expect(attempts).toEqual([{ outcome: 'answered', sipStatus: 200 }]); // one call attempt, two servers
      expect((await down.outcome()).code, down.logs()).toBe(0);
      expect((await up.outcome()).code, up.logs()).toBe(0);
      expect(dns.queries).toContain('SRV _sip._udp.trunk.test');
    });

    it('every server failing: the payment fails with the call failed', async () => {
      const a = await sipp('reply-503');
      const b = await sipp('reply-503');
      dns.zone = trunkZone(a.port, b.port);
      world = await callingWorld(b.port);
      await enrolPrepaid(world, 'alice', '1000');
      const created = await pay(world);
      expect(await finalOf(world, created.body.id)).toMatchObject({ status: 'failed', failure_code: 'call_failed' });
      const attempts = world.db.prepare('SELECT outcome, sip_status AS sipStatus FROM call_attempts WHERE payment_id = ?').all(created.body.id);
      expect(attempts).toEqual([{ outcome: 'failed', sipStatus: 503 }]);
      expect((await a.outcome()).code, a.logs()).toBe(0);
      expect((await b.outcome()).code, b.logs()).toBe(0);
    });
  });
});
