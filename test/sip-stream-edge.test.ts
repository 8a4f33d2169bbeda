import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedEngine } from '../src/telephony/embedded.js';
import type { CallEngine } from '../src/telephony/engine.js';
import { startKamailio, type Kamailio } from './helpers/kamailio.js';
import { freeRtpPortRange } from './helpers/rtp-phone.js';
import { startSipp, type Sipp } from './helpers/sipp.js';
import { makeTestCa, type TestCa } from './helpers/test-ca.js';

/**
 * Requests from the far end over a stream we opened: the phone (sipp, UDP) hangs up behind Kamailio,
 * which relays its BYE to callpay over TCP or TLS. Our Via carries `alias` (RFC 5923), so the edge
 * may reuse our connection; over TLS, where callpay has no certificate and so no listener here, that
 * is the only way the BYE can arrive. It comes from the edge's address and is admitted; its 200 goes
 * back over the connection it came on.
 */
describe('the phone hangs up behind a Kamailio edge reached over TCP/TLS', { timeout: 60_000 }, () => {
  const silent = pino({ level: 'silent' });
  let ca: TestCa;
  const started: Array<{ stop(): Promise<void> }> = [];
  let engine: CallEngine | undefined;

  beforeAll(async () => {
    ca = await makeTestCa();
  });
  afterAll(() => ca.remove());
  afterEach(async () => {
    await engine?.close();
    engine = undefined;
    for (const s of started.splice(0).reverse()) await s.stop();
  });

  it.each(['tcp', 'tls'] as const)('over %s: the BYE reaches callpay, the call ends hung up, the phone gets its 200', async (transport) => {
    const phone: Sipp = await startSipp({ scenario: 'hangup-during-playback', vars: { hangup_after_ms: '500' }, timeoutMs: 30_000 });
    started.push(phone);
    const edge: Kamailio = await startKamailio({ phone: phone.hostPort, ...(transport === 'tls' ? { tls: { cert: ca.server.cert, key: ca.server.key } } : {}) });
    started.push(edge);
    engine = await createEmbeddedEngine({
      sip: {
        bindHost: '127.0.0.1', bindPort: 0, outboundProxy: edge.proxyUri(transport), requestUri: `sip:{number}@127.0.0.1:${phone.port}`,
        from: 'sip:callpay@127.0.0.1', displayName: 'callpay', username: null, password: null, ringTimeoutMs: 10_000,
        tls: { port: 0, caFile: ca.ca.cert, certFile: null, keyFile: null },
      },
      rtp: { bindHost: '127.0.0.1', ...(await freeRtpPortRange(8)) },
      log: silent,
      timers: { t1: 100 },
    });
    const r = await engine.dial({ number: '+886912345678', log: silent });
    expect(r.kind, `${phone.logs()}\n--- kamailio\n${edge.logs().slice(-4000)}`).toBe('answered');
    if (r.kind !== 'answered') return;
    expect((await r.call.ended).outcome).toBe('hung_up');
    expect((await phone.outcome()).code, `${phone.logs()}\n--- kamailio\n${edge.logs().slice(-4000)}`).toBe(0);
  });
});
