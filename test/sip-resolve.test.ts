import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { createSipDns, LIMITS, orderSrv, resolveTarget, type SipDns, type SrvAnswer } from '../src/telephony/sip/resolve.js';
import { parseTarget, type SipTarget } from '../src/telephony/sip/target.js';
import { tempDir } from './helpers/cli.js';
import { startDnsServer, type DnsRecord, type TestDnsServer } from './helpers/dns-server.js';

/** A seeded generator (mulberry32), so the weighted draws are the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const target = (value: string): SipTarget => {
  const t = parseTarget(value);
  if (!t) throw new Error(`unreadable target ${value}`);
  return t;
};

const srv = (priority: number, weight: number, port: number, host: string): DnsRecord => ({ type: 'SRV', priority, weight, port, target: host });
const naptr = (order: number, preference: number, service: string, replacement: string, flags = 's', regexp = ''): DnsRecord => ({ type: 'NAPTR', order, preference, flags, service, regexp, replacement });
const a = (address: string): DnsRecord => ({ type: 'A', address });

describe('RFC 2782 ordering of SRV records', () => {
  const rec = (name: string, priority: number, weight: number): SrvAnswer => ({ name, port: 5060, priority, weight });

  it('lowest priority first, every record kept', () => {
    const ordered = orderSrv([rec('c', 30, 1), rec('a', 10, 5), rec('b', 20, 0), rec('a2', 10, 5)], seeded(1));
    expect(ordered.map((r) => r.priority)).toEqual([10, 10, 20, 30]);
    expect(new Set(ordered.map((r) => r.name))).toEqual(new Set(['a', 'a2', 'b', 'c']));
  });

  it('within a priority, the first pick follows the weights (90/10), and weight 0 is rarely first', () => {
    const random = seeded(7);
    const first = { heavy: 0, light: 0, zero: 0 };
    const runs = 2000;
    for (let i = 0; i < runs; i++) {
      const [top] = orderSrv([rec('zero', 1, 0), rec('light', 1, 10), rec('heavy', 1, 90)], random);
      first[top!.name as keyof typeof first] += 1;
    }
    expect(first.heavy / runs).toBeGreaterThan(0.8);
    expect(first.heavy / runs).toBeLessThan(0.97);
    expect(first.light / runs).toBeGreaterThan(0.04);
    expect(first.zero / runs).toBeLessThan(0.03); // only a draw of exactly 0 picks it
  });

  it('all weights 0: every record still comes out', () => {
    expect(orderSrv([rec('a', 1, 0), rec('b', 1, 0), rec('c', 1, 0)], seeded(3))).toHaveLength(3);
  });
});

describe('RFC 3263 without DNS: IP addresses', () => {
  const noDns: SipDns = {
    naptr: () => Promise.reject(new Error('no NAPTR lookup expected')),
    srv: () => Promise.reject(new Error('no SRV lookup expected')),
    addresses: () => Promise.reject(new Error('no A/AAAA lookup expected')),
  };

  it.each([
    ['192.0.2.10', [{ host: '192.0.2.10', port: 5060 }]],
    ['192.0.2.10:5080', [{ host: '192.0.2.10', port: 5080 }]],
    ['[2001:db8::1]:5070', [{ host: '2001:db8::1', port: 5070 }]],
    ['sip:192.0.2.10;transport=tcp', [{ host: '192.0.2.10', port: 5060, transport: 'tcp' }]],
    ['sips:192.0.2.10', [{ host: '192.0.2.10', port: 5061, transport: 'tls' }]],
  ])('%s', async (value, hops) => {
    expect(await resolveTarget(target(value), noDns)).toEqual(hops);
  });
});

describe('RFC 3263 against a DNS server on loopback', () => {
  let dns: TestDnsServer;
  let resolver: SipDns;
  beforeAll(async () => {
    dns = await startDnsServer();
    resolver = createSipDns({ servers: [dns.server], timeoutMs: 600 });
  });
  afterAll(async () => {
    await dns.close();
  });
  beforeEach(() => {
    dns.zone = {};
    dns.queries.length = 0;
  });

  it('a name with a port: its A and AAAA records on that port, no NAPTR or SRV (§4.2)', async () => {
    dns.zone = { 'pbx.test': [a('10.0.0.7'), a('10.0.0.8'), { type: 'AAAA', address: '2001:db8::7' }] };
    expect(await resolveTarget(target('pbx.test:5080'), resolver, { families: [4, 6] })).toEqual([
      { host: '10.0.0.7', port: 5080, serverName: 'pbx.test' },
      { host: '10.0.0.8', port: 5080, serverName: 'pbx.test' },
      { host: '2001:db8::7', port: 5080, serverName: 'pbx.test' },
    ]);
    expect(await resolveTarget(target('sip:pbx.test:5090;transport=tcp'), resolver, { families: [4] })).toEqual([
      { host: '10.0.0.7', port: 5090, transport: 'tcp', serverName: 'pbx.test' },
      { host: '10.0.0.8', port: 5090, transport: 'tcp', serverName: 'pbx.test' },
    ]);
    expect(dns.queries.filter((q) => /^(NAPTR|SRV)/.test(q))).toEqual([]);
  });

  it('NAPTR picks and orders the transports; SCTP, WebSocket, non-terminal and regexp records are left out', async () => {
    dns.zone = {
      'carrier.test': [
        naptr(30, 10, 'SIPS+D2T', '_sips._tcp.carrier.test'),
        naptr(10, 20, 'SIP+D2U', '_sip._udp.carrier.test'),
        naptr(10, 10, 'SIP+D2T', '_sip._tcp.carrier.test'),
        naptr(5, 10, 'SIP+D2S', '_sip._sctp.carrier.test'),
        naptr(5, 10, 'SIP+D2W', '_sip._ws.carrier.test'),
        naptr(1, 1, 'SIP+D2U', 'elsewhere.test', ''), // not terminal: would chain further
        naptr(1, 2, 'SIP+D2U', '', 's', '!^.*$!sip:evil@evil.test!'),
      ],
      '_sip._tcp.carrier.test': [srv(10, 1, 5060, 'tcp1.carrier.test')],
      '_sip._udp.carrier.test': [srv(10, 1, 5062, 'udp1.carrier.test')],
      '_sips._tcp.carrier.test': [srv(10, 1, 5061, 'tls1.carrier.test')],
      '_sip._sctp.carrier.test': [srv(10, 1, 5060, 'sctp.carrier.test')],
      'tcp1.carrier.test': [a('10.1.0.1')],
      'udp1.carrier.test': [a('10.1.0.2')],
      'tls1.carrier.test': [a('10.1.0.3')],
      'sctp.carrier.test': [a('10.1.0.9')],
      'elsewhere.test': [a('10.9.9.9')],
    };
    expect(await resolveTarget(target('carrier.test'), resolver, { families: [4] })).toEqual([
      { host: '10.1.0.1', port: 5060, transport: 'tcp', serverName: 'carrier.test' },
      { host: '10.1.0.2', port: 5062, serverName: 'carrier.test' },
      { host: '10.1.0.3', port: 5061, transport: 'tls', serverName: 'carrier.test' },
    ]);
    expect(dns.queries).not.toContain('SRV _sip._sctp.carrier.test');
    // sips: only over TLS, so only SIPS+D2T
    expect(await resolveTarget(target('sips:carrier.test'), resolver, { families: [4] })).toEqual([
      { host: '10.1.0.3', port: 5061, transport: 'tls', serverName: 'carrier.test' },
    ]);
  });

  it('an explicit transport skips NAPTR and asks only that transport\'s SRV', async () => {
    dns.zone = {
      'carrier.test': [naptr(10, 10, 'SIP+D2U', '_sip._udp.carrier.test')],
      '_sip._udp.carrier.test': [srv(10, 1, 5062, 'udp1.carrier.test')],
      '_sip._tcp.carrier.test': [srv(10, 1, 5070, 'tcp1.carrier.test')],
      'udp1.carrier.test': [a('10.1.0.2')],
      'tcp1.carrier.test': [a('10.1.0.1')],
    };
    expect(await resolveTarget(target('sip:carrier.test;transport=tcp'), resolver, { families: [4] })).toEqual([
      { host: '10.1.0.1', port: 5070, transport: 'tcp', serverName: 'carrier.test' },
    ]);
    expect(dns.queries.filter((q) => q.startsWith('NAPTR') || q.startsWith('SRV'))).toEqual(['SRV _sip._tcp.carrier.test']);
  });

  it('no NAPTR: SRV for UDP then TCP, by priority, every address of each target; "." targets skipped', async () => {
    dns.zone = {
      '_sip._udp.trunk.test': [srv(20, 1, 5070, 'b.trunk.test'), srv(10, 1, 5060, 'a.trunk.test'), srv(5, 0, 5060, '.')],
      '_sip._tcp.trunk.test': [srv(10, 1, 5080, 'a.trunk.test')],
      'a.trunk.test': [a('10.2.0.1'), a('10.2.0.2')],
      'b.trunk.test': [a('10.2.0.3')],
    };
    expect(await resolveTarget(target('trunk.test'), resolver, { families: [4] })).toEqual([
      { host: '10.2.0.1', port: 5060, serverName: 'trunk.test' },
      { host: '10.2.0.2', port: 5060, serverName: 'trunk.test' },
      { host: '10.2.0.3', port: 5070, serverName: 'trunk.test' },
      { host: '10.2.0.1', port: 5080, transport: 'tcp', serverName: 'trunk.test' },
      { host: '10.2.0.2', port: 5080, transport: 'tcp', serverName: 'trunk.test' },
    ]);
    expect(dns.queries).toContain('NAPTR trunk.test');
    expect(dns.queries).not.toContain('SRV _sips._tcp.trunk.test'); // a sip: target looks up "_sip" only (§4.1)
  });

  it('no SRV: the name\'s addresses on the default port (5060, 5061 for sips:)', async () => {
    dns.zone = { 'plain.test': [a('10.3.0.1'), { type: 'AAAA', address: '2001:db8::3' }] };
    expect(await resolveTarget(target('plain.test'), resolver, { families: [4] })).toEqual([{ host: '10.3.0.1', port: 5060, serverName: 'plain.test' }]);
    expect(await resolveTarget(target('sips:plain.test'), resolver, { families: [6, 4] })).toEqual([
      { host: '2001:db8::3', port: 5061, transport: 'tls', serverName: 'plain.test' },
      { host: '10.3.0.1', port: 5061, transport: 'tls', serverName: 'plain.test' },
    ]);
  });

  it('nothing resolves: no hop', async () => {
    expect(await resolveTarget(target('nowhere.test'), resolver)).toEqual([]);
    expect(await resolveTarget(target('nowhere.test:5060'), resolver)).toEqual([]);
    expect(await resolveTarget(target('sip:nowhere.test;transport=tcp'), resolver)).toEqual([]);
  });

  it('a DNS server that never answers: every lookup gives up on time, no hop', async () => {
    dns.zone = { 'slow.test': 'silent', '_sip._udp.slow.test': 'silent', '_sip._tcp.slow.test': 'silent' };
    const started = Date.now();
    expect(await resolveTarget(target('slow.test'), resolver, { families: [4] })).toEqual([]);
    // NAPTR, then both SRVs together, then A: three rounds of at most 600 ms each (generous bound)
    expect(Date.now() - started).toBeLessThan(6_000);
  });

  it('SERVFAIL on NAPTR, a cut-short answer on one SRV, a truncated (TC) one on an A: the rest still resolves', async () => {
    dns.zone = {
      'odd.test': 'servfail',
      '_sip._udp.odd.test': 'truncated',
      '_sip._tcp.odd.test': [srv(10, 1, 5090, 'ok.odd.test'), srv(20, 1, 5091, 'tc.odd.test')],
      'ok.odd.test': [a('10.4.0.1')],
      'tc.odd.test': 'tc',
    };
    expect(await resolveTarget(target('odd.test'), resolver, { families: [4] })).toEqual([{ host: '10.4.0.1', port: 5090, transport: 'tcp', serverName: 'odd.test' }]);
    expect(dns.queries).toContain('A tc.odd.test');
  });

  it('hostile answers: hundreds of SRV and A records are capped, a CNAME loop gives nothing, malformed names are dropped', async () => {
    const many = Array.from({ length: 300 }, (_, i) => srv(i % 3, 1, 5060 + (i % 50), `h${i}.big.test`));
    dns.zone = {
      '_sip._udp.big.test': many,
      '_sip._tcp.big.test': [srv(1, 1, 5060, 'loop1.big.test'), srv(2, 1, 0, 'h1.big.test'), srv(3, 1, 5060, 'bad_name-.big.test')],
      'loop1.big.test': [{ type: 'CNAME', target: 'loop2.big.test' }],
      'loop2.big.test': [{ type: 'CNAME', target: 'loop1.big.test' }],
      ...Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`h${i}.big.test`, Array.from({ length: 40 }, (_, j) => a(`10.5.${i % 250}.${j + 1}`))])),
    };
    const hops = await resolveTarget(target('big.test'), resolver, { families: [4] });
    expect(hops.length).toBeGreaterThan(0);
    expect(hops.length).toBeLessThanOrEqual(LIMITS.hops);
    expect(hops.every((h) => h.port >= 1)).toBe(true);
    const addressQueries = dns.queries.filter((q) => q.startsWith('A '));
    expect(addressQueries.length).toBeLessThanOrEqual(LIMITS.hops);
    // the CNAME loop alone: no hop, and it ends
    dns.zone = { '_sip._udp.loop.test': [srv(1, 1, 5060, 'loop1.big.test')], 'loop1.big.test': [{ type: 'CNAME', target: 'loop2.big.test' }], 'loop2.big.test': [{ type: 'CNAME', target: 'loop1.big.test' }] };
    expect(await resolveTarget(target('loop.test'), resolver, { families: [4] })).toEqual([]);
  });

  it('duplicate targets give each hop once', async () => {
    dns.zone = {
      '_sip._udp.dup.test': [srv(1, 1, 5060, 'x.dup.test'), srv(2, 1, 5060, 'x.dup.test'), srv(3, 1, 5060, 'y.dup.test')],
      'x.dup.test': [a('10.6.0.1')],
      'y.dup.test': [a('10.6.0.1'), a('10.6.0.2')],
    };
    expect(await resolveTarget(target('dup.test'), resolver, { families: [4] })).toEqual([
      { host: '10.6.0.1', port: 5060, serverName: 'dup.test' },
      { host: '10.6.0.2', port: 5060, serverName: 'dup.test' },
    ]);
  });
});

describe('telephony.sip.dnsServers', () => {
  it('[] by default, a list in a file, comma-separated in the environment, each an IP with an optional port', () => {
    const dir = tempDir();
    try {
      expect(loadConfig({ cwd: dir.path, env: {} }).telephony.sip.dnsServers).toEqual([]);
      const env = { CALLPAY_TELEPHONY_SIP_DNS_SERVERS: '10.0.0.53, 127.0.0.1:5353,[2001:db8::53]:53' };
      expect(loadConfig({ cwd: dir.path, env }).telephony.sip.dnsServers).toEqual(['10.0.0.53', '127.0.0.1:5353', '[2001:db8::53]:53']);
      writeFileSync(join(dir.path, 'callpay.json'), JSON.stringify({ telephony: { sip: { dnsServers: ['2001:db8::53'] } } }));
      expect(loadConfig({ cwd: dir.path, env: {} }).telephony.sip.dnsServers).toEqual(['2001:db8::53']);
      for (const bad of ['dns.example', '10.0.0.1:0', '10.0.0.1:99999', '[2001:db8::53]', '10.0.0.256', '']) {
        writeFileSync(join(dir.path, 'callpay.json'), JSON.stringify({ telephony: { sip: { dnsServers: [bad] } } }));
        expect(() => loadConfig({ cwd: dir.path, env: {} }), bad).toThrow(expect.objectContaining({ code: 'config_invalid', field: 'telephony.sip.dnsServers.0' }));
      }
    } finally {
      dir.remove();
    }
  });
});
