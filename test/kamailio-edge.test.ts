import { createSocket } from 'node:dgram';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { enrolPrepaid, finalOf, startCallingWorld, type TestWorld } from './helpers/daemon.js';
import { startKamailio, type Kamailio, type StartKamailioOptions } from './helpers/kamailio.js';
import { writeDtmfPcap } from './helpers/pcap.js';
import { startSipp, type Sipp } from './helpers/sipp.js';
import { makeTestCa, type TestCa } from './helpers/test-ca.js';

/**
 * Kamailio as a carrier's edge proxy (test/kamailio/edge.cfg, test/helpers/kamailio.ts) between a caller
 * (sipp, then callpay) and the test phone (sipp): record-route, transport changes (TCP or TLS -> UDP,
 * UDP -> TCP), loose routing both ways, and the whole payment through it over UDP, TCP and TLS (test CA
 * from test/helpers/test-ca.ts; Debian's sipp has no TLS, so TLS ends at Kamailio).
 */

/** The messages of a sipp -trace_msg file over any transport: direction, transport and text. */
function traced(trace: string): Array<{ direction: 'sent' | 'received'; transport: string; text: string; firstLine: string }> {
  const out: Array<{ direction: 'sent' | 'received'; transport: string; text: string; firstLine: string }> = [];
  for (const block of trace.split(/^-{10,}[^\n]*\n/m)) {
    const m = /^(UDP|TCP|TLS) message (sent|received)[^\n]*\n\n([^]*)$/.exec(block);
    if (!m) continue;
    const text = m[3]!.replace(/\n+$/, '');
    out.push({ transport: m[1]!, direction: m[2] as 'sent' | 'received', text, firstLine: text.split(/\r?\n/, 1)[0]! });
  }
  return out;
}

/** The values of one header (every line of it), by name, case-insensitive. */
function headers(text: string, name: string): string[] {
  const re = new RegExp(`^${name}:\\s*(.*)$`, 'gim');
  return [...text.matchAll(re)].map((m) => m[1]!.trim());
}

/** Sends one UDP datagram from a socket of its own and returns the first answer's status line (bounded: 3 s). */
function askUdp(port: number, lines: string[]): Promise<string> {
  return new Promise((done, fail) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => { socket.close(); fail(new Error('no answer within 3 s')); }, 3_000);
    socket.on('message', (msg) => {
      clearTimeout(timer);
      socket.close();
      done(msg.toString('latin1').split('\r\n', 1)[0]!);
    });
    socket.bind(0, '127.0.0.1', () => {
      const text = lines.join('\r\n').replaceAll('LOCAL', `127.0.0.1:${socket.address().port}`);
      socket.send(`${text}\r\nContent-Length: 0\r\n\r\n`, port, '127.0.0.1');
    });
  });
}

describe('Kamailio edge proxy between two sipp', { timeout: 60_000 }, () => {
  const started: Array<{ stop(): Promise<void> }> = [];
  afterEach(async () => {
    for (const s of started.splice(0).reverse()) await s.stop();
  });

  it('answers OPTIONS itself and refuses a request out of Max-Forwards', async () => {
    const edge = await startKamailio({ phone: '127.0.0.1:9' });
    started.push(edge);
    const request = (method: string, maxForwards: number) => [
      `${method} sip:phone@127.0.0.1:${edge.udpPort} SIP/2.0`, 'Via: SIP/2.0/UDP LOCAL;branch=z9hG4bK-mf-' + method + maxForwards,
      `Max-Forwards: ${maxForwards}`, 'From: <sip:t@127.0.0.1>;tag=1', `To: <sip:phone@127.0.0.1:${edge.udpPort}>`,
      `Call-ID: mf-${method}-${maxForwards}@127.0.0.1`, `CSeq: 1 ${method}`, 'Contact: <sip:t@LOCAL>',
    ];
    expect(await askUdp(edge.udpPort, request('OPTIONS', 70))).toBe('SIP/2.0 200 OK');
    expect(await askUdp(edge.udpPort, request('INVITE', 0))).toBe('SIP/2.0 483 Too Many Hops');
    expect(edge.logs()).not.toContain('edge: initial INVITE');
  });

  it('relays a TCP call to a UDP phone with a double Record-Route, and loose-routes INFO and BYE both ways', async () => {
    const phone = await startSipp({ scenario: 'answer-info', vars: { info_digits: '42' }, timeoutMs: 30_000 });
    started.push(phone);
    const edge = await startKamailio({ phone: phone.hostPort });
    started.push(edge);
    // no media flows in this call: the offer's RTP port is the discard port
    const caller = await startSipp({ scenario: 'test-uac-info', vars: { rtp_port: '9' }, remote: `127.0.0.1:${edge.tcpPort}`, transport: 'tcp', timeoutMs: 30_000 });
    started.push(caller);
    const callerOutcome = await caller.outcome();
    const phoneOutcome = await phone.outcome();
    expect(callerOutcome.code, `${caller.logs()}\n--- kamailio\n${edge.logs().slice(-6000)}`).toBe(0);
    expect(phoneOutcome.code, phone.logs()).toBe(0);

    const atPhone = traced(phone.messages()).filter((m) => m.direction === 'received');
    const invite = atPhone.find((m) => m.firstLine.startsWith('INVITE '))!;
    expect(invite.transport).toBe('UDP');
    // two Record-Route entries: the UDP side (top, for the phone) and the TCP side (for the caller)
    const rr = headers(invite.text, 'Record-Route').flatMap((v) => v.split(/,\s*(?=<)/));
    expect(rr).toHaveLength(2);
    expect(rr[0]).toMatch(new RegExp(`^<sip:127\\.0\\.0\\.1:${edge.udpPort};r2=on;lr`));
    expect(rr[1]).toMatch(new RegExp(`^<sip:127\\.0\\.0\\.1:${edge.tcpPort};transport=tcp;r2=on;lr`));
    expect(headers(invite.text, 'Via')[0]).toMatch(new RegExp(`^SIP/2\\.0/UDP 127\\.0\\.0\\.1:${edge.udpPort};`));

    // the phone's INFOs reached the caller over TCP through the proxy, and the caller's BYE the phone
    const atCaller = traced(caller.messages()).filter((m) => m.direction === 'received');
    expect(atCaller.filter((m) => m.firstLine.startsWith('INFO ')).map((m) => m.transport)).toEqual(['TCP', 'TCP']);
    expect(caller.actionLog()).toMatch(/KEY 4 [^]*KEY 2 /);
    const sentBye = traced(caller.messages()).find((m) => m.direction === 'sent' && m.firstLine.startsWith('BYE '))!;
    expect(headers(sentBye.text, 'Route').join(',')).toContain(`127.0.0.1:${edge.tcpPort};transport=tcp;r2=on;lr`);
    const bye = atPhone.find((m) => m.firstLine.startsWith('BYE '))!;
    expect(headers(bye.text, 'Route')).toEqual([]); // the proxy took its own entries off
    expect(headers(bye.text, 'Via')).toHaveLength(2);
    expect(edge.logs()).toMatch(/edge: in-dialog INFO from udp:127\.0\.0\.1:\d+ loose-routed/);
    expect(edge.logs()).toMatch(/edge: in-dialog BYE from tcp:127\.0\.0\.1:\d+ loose-routed/);
  });
});

describe('a payment through the Kamailio edge', { timeout: 90_000 }, () => {
  const started: Array<{ stop(): Promise<void> } | { close(): Promise<void> }> = [];
  let ca: TestCa;
  beforeAll(async () => { ca = await makeTestCa(); });
  afterAll(() => ca?.remove());
  afterEach(async () => {
    for (const s of started.splice(0).reverse()) await ('stop' in s ? s.stop() : s.close());
  });

  /** The phone keys the right PIN (RFC 4733 from a pcap) behind a Kamailio that relays to it (UDP unless said). */
  async function phoneBehindEdge(edgeOptions: Omit<StartKamailioOptions, 'phone'> = {}): Promise<{ phone: Sipp; edge: Kamailio }> {
    const pcap = join(tmpdir(), `callpay-edge-${process.pid}-${Date.now()}.pcap`);
    started.push({ stop: async () => rmSync(pcap, { force: true }) });
    writeDtmfPcap(pcap, { digits: '482916#', leadMs: 1500, silencePayloadType: 0, gapMs: 150 });
    const phone = await startSipp({ scenario: 'answer-dtmf', pcap, timeoutMs: 40_000, transport: edgeOptions.phoneTransport ?? 'udp' });
    started.push(phone);
    const edge = await startKamailio({ phone: phone.hostPort, ...edgeOptions });
    started.push(edge);
    return { phone, edge };
  }

  async function payThrough(phone: Sipp, env: Record<string, string>): Promise<{ w: TestWorld; id: string }> {
    const w = await startCallingWorld(phone.port, {
      CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000',
      CALLPAY_IVR_RETRY_DELAY_MS: '300',
      CALLPAY_IVR_RETRY_ATTEMPTS: '0',
      ...env,
    });
    started.push(w);
    await enrolPrepaid(w, 'alice', '1000');
    const created = await w.api('POST', '/v1/payments', {
      idem: `edge-${Math.random()}`,
      body: { amount: 15000, currency: 'TWD', reference: 'edge', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: 'alice' },
    });
    expect(created.body).toMatchObject({ status: 'calling', live: true });
    return { w, id: created.body.id as string };
  }

  it('over UDP: approved, the INVITE record-routed by Kamailio and the BYE of callpay loose-routed through it', async () => {
    const { phone, edge } = await phoneBehindEdge();
    const { w, id } = await payThrough(phone, { CALLPAY_TELEPHONY_SIP_OUTBOUND_PROXY: edge.udp });
    expect(await finalOf(w, id), `${phone.logs()}\n--- kamailio\n${edge.logs().slice(-6000)}`).toMatchObject({ status: 'succeeded' });
    expect(w.db.prepare('SELECT outcome, sip_status AS sipStatus, digit_count AS digits FROM call_attempts WHERE payment_id = ?').all(id))
      .toEqual([{ outcome: 'answered', sipStatus: 200, digits: 7 }]);
    expect((await phone.outcome()).code, phone.logs()).toBe(0);

    const atPhone = traced(phone.messages()).filter((m) => m.direction === 'received');
    const invite = atPhone.find((m) => m.firstLine.startsWith('INVITE '))!;
    // one interface in and out: one Record-Route, Kamailio's Via on top of callpay's
    expect(headers(invite.text, 'Record-Route')).toEqual([expect.stringMatching(new RegExp(`^<sip:127\\.0\\.0\\.1:${edge.udpPort};lr`))]);
    const vias = headers(invite.text, 'Via');
    expect(vias).toHaveLength(2);
    expect(vias[0]).toMatch(new RegExp(`^SIP/2\\.0/UDP 127\\.0\\.0\\.1:${edge.udpPort};`));
    const callpayPort = /^SIP\/2\.0\/UDP 127\.0\.0\.1:(\d+)/.exec(vias[1]!)?.[1];
    expect(callpayPort).toBeDefined();
    // callpay hung up through the proxy (the route set), which took its Route off
    const bye = atPhone.find((m) => m.firstLine.startsWith('BYE '))!;
    expect(headers(bye.text, 'Via')[0]).toMatch(new RegExp(`^SIP/2\\.0/UDP 127\\.0\\.0\\.1:${edge.udpPort};`));
    expect(headers(bye.text, 'Route')).toEqual([]);
    expect(edge.logs()).toMatch(new RegExp(`edge: in-dialog BYE from udp:127\\.0\\.0\\.1:${callpayPort} loose-routed by Route <sip:127\\.0\\.0\\.1:${edge.udpPort};lr`));
  });

  /** What the phone received, and the checks every call through the edge passes. */
  function relayedInvite(phone: Sipp, edge: Kamailio, over: 'UDP' | 'TCP' = 'UDP'): { rr: string[]; vias: string[] } {
    const invite = traced(phone.messages()).find((m) => m.direction === 'received' && m.firstLine.startsWith('INVITE '))!;
    expect(invite.transport).toBe(over);
    const vias = headers(invite.text, 'Via');
    expect(vias).toHaveLength(2);
    expect(vias[0]).toMatch(new RegExp(`^SIP/2\\.0/${over} 127\\.0\\.0\\.1:${over === 'UDP' ? edge.udpPort : edge.tcpPort};`));
    return { rr: headers(invite.text, 'Record-Route').flatMap((v) => v.split(/,\s*(?=<)/)), vias };
  }

  it.each(['tcp', 'tls'] as const)('over %s to the edge and UDP to the phone: approved, double Record-Route, BYE loose-routed', async (transport) => {
    const { phone, edge } = await phoneBehindEdge(transport === 'tls' ? { tls: { cert: ca.server.cert, key: ca.server.key } } : {});
    const port = transport === 'tls' ? edge.tlsPort! : edge.tcpPort;
    const { w, id } = await payThrough(phone, {
      CALLPAY_TELEPHONY_SIP_OUTBOUND_PROXY: edge.proxyUri(transport),
      CALLPAY_TELEPHONY_SIP_TLS_PORT: '0',
      ...(transport === 'tls' ? { CALLPAY_TELEPHONY_SIP_TLS_CA_FILE: ca.ca.cert } : {}),
    });
    expect(await finalOf(w, id), `${phone.logs()}\n--- kamailio\n${edge.logs().slice(-6000)}`).toMatchObject({ status: 'succeeded' });
    expect((await phone.outcome()).code, phone.logs()).toBe(0);
    const { rr, vias } = relayedInvite(phone, edge);
    // the transport changed: a Record-Route for each side, the phone's (UDP) on top
    expect(rr).toHaveLength(2);
    expect(rr[0]).toMatch(new RegExp(`^<sip:127\\.0\\.0\\.1:${edge.udpPort};r2=on;lr`));
    expect(rr[1]).toMatch(new RegExp(`^<sip:127\\.0\\.0\\.1:${port};transport=${transport};r2=on;lr`));
    expect(vias[1]).toMatch(new RegExp(`^SIP/2\\.0/${transport.toUpperCase()} `));
    expect(edge.logs()).toMatch(new RegExp(`edge: in-dialog BYE from ${transport}:127\\.0\\.0\\.1:\\d+ loose-routed by Route <sip:127\\.0\\.0\\.1:${port};transport=${transport};r2=on;lr`));
  });

  it('over UDP to the edge and TCP to the phone: approved, double Record-Route, BYE loose-routed', async () => {
    const { phone, edge } = await phoneBehindEdge({ phoneTransport: 'tcp' });
    const { w, id } = await payThrough(phone, { CALLPAY_TELEPHONY_SIP_OUTBOUND_PROXY: edge.udp });
    expect(await finalOf(w, id), `${phone.logs()}\n--- kamailio\n${edge.logs().slice(-6000)}`).toMatchObject({ status: 'succeeded' });
    expect((await phone.outcome()).code, phone.logs()).toBe(0);
    const { rr, vias } = relayedInvite(phone, edge, 'TCP');
    expect(rr).toHaveLength(2);
    expect(rr[0]).toMatch(new RegExp(`^<sip:127\\.0\\.0\\.1:${edge.tcpPort};transport=tcp;r2=on;lr`));
    expect(rr[1]).toMatch(new RegExp(`^<sip:127\\.0\\.0\\.1:${edge.udpPort};r2=on;lr`));
    expect(vias[1]).toMatch(/^SIP\/2\.0\/UDP /);
    const bye = traced(phone.messages()).find((m) => m.direction === 'received' && m.firstLine.startsWith('BYE '))!;
    expect(bye.transport).toBe('TCP');
    expect(edge.logs()).toMatch(new RegExp(`edge: in-dialog BYE from udp:127\\.0\\.0\\.1:\\d+ loose-routed by Route <sip:127\\.0\\.0\\.1:${edge.udpPort};r2=on;lr`));
  });

  it('over TLS to an edge that requires a client certificate: callpay presents the configured one', async () => {
    const { phone, edge } = await phoneBehindEdge({ tls: { cert: ca.server.cert, key: ca.server.key, requireClient: { ca: ca.ca.cert, cert: ca.client.cert, key: ca.client.key } } });
    const { w, id } = await payThrough(phone, {
      CALLPAY_TELEPHONY_SIP_OUTBOUND_PROXY: edge.proxyUri('tls'),
      CALLPAY_TELEPHONY_SIP_TLS_PORT: '0',
      CALLPAY_TELEPHONY_SIP_TLS_CA_FILE: ca.ca.cert,
      CALLPAY_TELEPHONY_SIP_TLS_CERT_FILE: ca.client.cert,
      CALLPAY_TELEPHONY_SIP_TLS_KEY_FILE: ca.client.key,
    });
    expect(await finalOf(w, id), `${phone.logs()}\n--- kamailio\n${edge.logs().slice(-6000)}`).toMatchObject({ status: 'succeeded' });
    expect(relayedInvite(phone, edge).vias[1]).toMatch(/^SIP\/2\.0\/TLS /);
    expect(edge.logs()).toContain('edge: TLS peer certificate CN=callpay-test-client verified=1');
  });

  it.each([
    ['a certificate the test CA did not sign', 'untrustedServer', /UNABLE_TO_VERIFY_LEAF_SIGNATURE/],
    ['a certificate for another name', 'wrongName', /ERR_TLS_CERT_ALTNAME_INVALID/],
  ] as const)('refuses an edge presenting %s: the call fails, no INVITE reaches the phone', async (_what, which, error) => {
    const { phone, edge } = await phoneBehindEdge({ tls: ca[which] });
    const { w, id } = await payThrough(phone, {
      CALLPAY_TELEPHONY_SIP_OUTBOUND_PROXY: edge.proxyUri('tls'),
      CALLPAY_TELEPHONY_SIP_TLS_PORT: '0',
      CALLPAY_TELEPHONY_SIP_TLS_CA_FILE: ca.ca.cert,
    });
    expect(await finalOf(w, id)).toMatchObject({ status: 'failed', failure_code: 'call_failed' });
    // refused by the certificate check (the same setup with `ca.server` is approved above)
    const attempts = w.db.prepare('SELECT outcome, sip_status AS sipStatus, reason FROM call_attempts WHERE payment_id = ?').all(id) as Array<{ outcome: string; sipStatus: number | null; reason: string }>;
    expect(attempts).toEqual([{ outcome: 'failed', sipStatus: null, reason: expect.stringMatching(error) }]);
    expect(edge.logs()).not.toContain('edge: initial INVITE');
    expect(traced(phone.messages()).filter((m) => m.firstLine.startsWith('INVITE '))).toEqual([]);
  });
});
