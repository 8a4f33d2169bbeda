import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { CallpayError } from '../src/domain/errors.js';
import { createLogger, type Logger } from '../src/log.js';
import { createEmbeddedEngine } from '../src/telephony/embedded.js';
import { createSipUserAgent, type InviteRequest, type InviteResult, type SipUserAgent, type SipUserAgentOptions } from '../src/telephony/sip/index.js';
import { getHeader } from '../src/telephony/sip/message.js';
import type { SipTlsOptions } from '../src/telephony/sip/transports.js';
import { ANSWER, NUMBER, OFFER } from './helpers/fake-phone.js';
import { freeRtpPortRange } from './helpers/rtp-phone.js';
import { StreamPhone, type StreamPhoneTls } from './helpers/stream-phone.js';
import { makeTestCa, type TestCa } from './helpers/test-ca.js';

const T1 = 50;

/**
 * SIP over TLS against a Node TLS peer speaking enough SIP (Debian's sipp has no TLS): the far end's
 * certificate must chain to the configured CA and name the host; our client certificate and TLS
 * listener come from `telephony.sip.tls`.
 */
describe('SIP over TLS', () => {
  let pki: TestCa;
  let phone: StreamPhone | undefined;
  let ua: SipUserAgent | undefined;
  let log: Logger;
  let logLines: string[];

  beforeAll(async () => {
    pki = await makeTestCa();
  });
  afterAll(() => pki.remove());
  beforeEach(() => {
    logLines = [];
    log = createLogger({ level: 'debug', destination: { write: (s: string) => void logLines.push(s) } });
  });
  afterEach(async () => {
    if (phone) phone.answerByes = true;
    await ua?.close();
    await phone?.close();
    ua = undefined;
    phone = undefined;
    expect(logLines.join('')).not.toContain(NUMBER.slice(1));
  });

  const tlsConfig = (over: Partial<SipTlsOptions> = {}): SipTlsOptions => ({ port: 0, caFile: pki.ca.cert, certFile: null, keyFile: null, ...over });

  async function world(phoneTls: StreamPhoneTls, uaTls: SipTlsOptions, extra: Partial<SipUserAgentOptions> = {}) {
    phone = await StreamPhone.start(phoneTls);
    ua = await createSipUserAgent({ bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, timers: { t1: T1, t2: 8 * T1, t4: 10 * T1 }, log, tls: uaTls, ...extra });
    return { phone, ua };
  }

  const dial = (over: Partial<InviteRequest> = {}): Promise<InviteResult> =>
    ua!.invite({ requestUri: `sips:${NUMBER}@127.0.0.1:${phone!.port}`, from: 'sip:callpay@example.com', displayName: 'Callpay', sdpOffer: OFFER, ringTimeoutMs: 10_000, log, ...over });

  async function answeredCall() {
    const result = dial();
    const invite = await phone!.request('INVITE');
    phone!.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [`Contact: <${phone!.uri()}>`, 'Content-Type: application/sdp'] });
    const r = await result;
    if (r.kind !== 'answered') throw new Error(`not answered: ${r.kind}`);
    const ack = await phone!.request('ACK');
    return { invite, r, ack };
  }

  it('a certificate from the configured CA for 127.0.0.1: a sips: call works, Via TLS, Contact sips:, ACK and BYE on the connection', async () => {
    await world({ certFile: pki.server.cert, keyFile: pki.server.key }, tlsConfig());
    expect(ua!.tlsPort).toBeNull(); // no certificate of ours: no listener
    const { invite, r, ack } = await answeredCall();
    expect(invite.msg.core.via.transport).toBe('TLS');
    expect(getHeader(invite.msg, 'contact')).toBe(`<sips:callpay@127.0.0.1:${ua!.local.port}>`);
    expect(ack.conn).toBe(invite.conn);
    const bye = r.dialog.bye();
    const byeReq = await phone!.request('BYE');
    expect(byeReq.conn).toBe(invite.conn);
    expect(byeReq.msg.core.via.transport).toBe('TLS');
    phone!.respond(byeReq, 200, 'OK');
    await bye;
    expect(phone!.connections).toHaveLength(1);
    expect(phone!.clientCerts).toEqual([null]);
  });

  it.each([
    ['not signed by the configured CA', 'untrustedServer', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|unable to verify/i],
    ['for another name', 'wrongName', /ERR_TLS_CERT_ALTNAME_INVALID/],
  ] as const)('a certificate %s is refused: the INVITE fails with the reason logged, nothing reaches the peer', async (_name, which, reason) => {
    await world({ certFile: pki[which].cert, keyFile: pki[which].key }, tlsConfig());
    const r = await dial();
    expect(r.kind).toBe('failed');
    if (r.kind === 'failed') expect(r.reason).toMatch(reason);
    const logs = logLines.join('');
    expect(logs).toContain('SIP connection failed');
    expect(logs).toMatch(reason);
    expect(phone!.all).toHaveLength(0);
  });

  it("without caFile the system's CAs decide: the test CA is not one of them", async () => {
    await world({ certFile: pki.server.cert, keyFile: pki.server.key }, tlsConfig({ caFile: null }));
    const r = await dial();
    expect(r).toMatchObject({ kind: 'failed' });
    expect(phone!.all).toHaveLength(0);
  });

  it('a peer that takes the connection but never completes the handshake: the connect timeout fails the INVITE', async () => {
    const silent = createServer((socket) => socket.on('error', () => {})); // TCP only: never says a TLS word
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      ua = await createSipUserAgent({ bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, timers: { t1: 1000 }, log, tls: tlsConfig(), connectTimeoutMs: 300 });
      const started = Date.now();
      const r = await ua.invite({ requestUri: `sips:${NUMBER}@127.0.0.1:${port}`, from: 'sip:callpay@example.com', displayName: '', sdpOffer: OFFER, ringTimeoutMs: 10_000, log });
      expect(r).toMatchObject({ kind: 'failed' });
      if (r.kind === 'failed') expect(r.reason).toContain('no connection within 300 ms');
      expect(Date.now() - started).toBeLessThan(64 * 1000);
    } finally {
      silent.close();
    }
  });

  it('presents our certificate as client certificate, and opens a TLS listener whose port Via and Contact name', async () => {
    await world(
      { certFile: pki.server.cert, keyFile: pki.server.key, caFile: pki.ca.cert, requestCert: true },
      tlsConfig({ certFile: pki.client.cert, keyFile: pki.client.key }),
    );
    expect(ua!.tlsPort).toEqual(expect.any(Number));
    const { invite } = await answeredCall();
    expect(phone!.clientCerts).toEqual(['callpay-test-client']);
    expect(invite.msg.core.via.port).toBe(ua!.tlsPort);
    expect(getHeader(invite.msg, 'contact')).toBe(`<sips:callpay@127.0.0.1:${ua!.tlsPort}>`);
  });

  it('a peer that requires a client certificate refuses us when none is configured', async () => {
    await world({ certFile: pki.server.cert, keyFile: pki.server.key, caFile: pki.ca.cert, requestCert: true }, tlsConfig());
    const r = await dial();
    expect(r).toMatchObject({ kind: 'failed' });
    expect(phone!.all).toHaveLength(0);
  });

  it("the phone's BYE over a new TLS connection to our listener is admitted and answered on it", async () => {
    await world({ certFile: pki.server.cert, keyFile: pki.server.key }, tlsConfig({ certFile: pki.server.cert, keyFile: pki.server.key }));
    const { invite, r } = await answeredCall();
    const inbound = await phone!.connect(ua!.tlsPort!, { tls: { caFile: pki.ca.cert } });
    phone!.send(phone!.dialogRequest(invite, 'ph1', 'BYE', 1), inbound);
    const ok = await phone!.response(200, 'BYE');
    expect(ok.conn).toBe(inbound);
    expect(await r.dialog.ended).toBe('remote');
  });

  it('the outbound proxy "sips:127.0.0.1:<port>" takes a sip: request-URI over TLS', async () => {
    phone = await StreamPhone.start({ certFile: pki.server.cert, keyFile: pki.server.key });
    ua = await createSipUserAgent({ bindHost: '127.0.0.1', bindPort: 0, outboundProxy: `sips:127.0.0.1:${phone.port}`, timers: { t1: T1 }, log, tls: tlsConfig() });
    const result = dial({ requestUri: `sip:${NUMBER}@carrier.invalid;user=phone` });
    const invite = await phone.request('INVITE');
    expect(invite.msg.core.via.transport).toBe('TLS');
    phone.respond(invite, 486, 'Busy Here', { toTag: 'x' });
    expect(await result).toMatchObject({ kind: 'busy' });
  });

  it('the embedded engine takes telephony.sip.tls: a sips: call answered and hung up', async () => {
    phone = await StreamPhone.start({ certFile: pki.server.cert, keyFile: pki.server.key });
    const silent = pino({ level: 'silent' });
    const engine = await createEmbeddedEngine({
      sip: {
        bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, requestUri: `sips:{number}@127.0.0.1:${phone.port}`,
        from: 'sip:callpay@127.0.0.1', displayName: 'callpay', username: null, password: null, ringTimeoutMs: 45_000,
        tls: tlsConfig(),
      },
      rtp: { bindHost: '127.0.0.1', ...(await freeRtpPortRange(8)) },
      log: silent,
      timers: { t1: T1 },
    });
    try {
      const dialled = engine.dial({ number: NUMBER, log: silent });
      const invite = await phone.request('INVITE');
      phone.respond(invite, 200, 'OK', { toTag: 'e1', body: ANSWER, headers: [`Contact: <${phone.uri()}>`, 'Content-Type: application/sdp'] });
      const r = await dialled;
      expect(r.kind).toBe('answered');
      if (r.kind !== 'answered') return;
      const hangup = r.call.hangup();
      const bye = await phone.request('BYE');
      phone.respond(bye, 200, 'OK');
      await hangup;
    } finally {
      await engine.close();
    }
  });
});

describe('config telephony.sip.tls', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'callpay-tls-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function writeConfig(tls: object): string {
    mkdirSync(join(dir, 'etc'), { recursive: true });
    const file = join(dir, 'etc', 'callpay.json');
    writeFileSync(file, JSON.stringify({ telephony: { sip: { tls } } }));
    return file;
  }

  it('defaults: port 5061, no files', () => {
    expect(loadConfig({ cwd: dir, env: {} }).telephony.sip.tls).toEqual({ port: 5061, caFile: null, certFile: null, keyFile: null });
  });

  it('relative paths are made absolute against the file that set them, env paths against the cwd', () => {
    const file = writeConfig({ caFile: 'tls/ca.pem', certFile: 'tls/me.pem', keyFile: 'tls/me.key', port: 0 });
    const tls = loadConfig({ cwd: dir, env: { CALLPAY_TELEPHONY_SIP_TLS_KEY_FILE: 'other.key' }, configPath: file }).telephony.sip.tls;
    expect(tls).toEqual({ port: 0, caFile: join(dir, 'etc', 'tls', 'ca.pem'), certFile: join(dir, 'etc', 'tls', 'me.pem'), keyFile: join(dir, 'other.key') });
  });

  it('a certificate without its key is refused, naming the key', () => {
    const file = writeConfig({ certFile: 'me.pem' });
    let caught: unknown;
    try {
      loadConfig({ cwd: dir, env: {}, configPath: file });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(CallpayError);
    expect((caught as CallpayError).field).toBe('telephony.sip.tls.keyFile');
  });
});
