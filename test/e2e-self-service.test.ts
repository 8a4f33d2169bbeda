import { createSocket } from 'node:dgram';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { enrolPrepaid, finalOf, startCallingWorld, type TestWorld } from './helpers/daemon.js';
import { startSipp, type Sipp } from './helpers/sipp.js';
import { writeDtmfPcap } from './helpers/pcap.js';

/**
 * Consumer self-service by calling in (issue 16 item 2), end to end: sipp calls `serve`'s daemon
 * (embedded engine) as the consumer's phone, through a trusted trunk address or not, and keys the PIN
 * and menu choices as RFC 4733 events; the results are read from the database and, for a new PIN, from
 * a payment authorized with it on a real outgoing call.
 */

const ENROLLED = '+886912345678';

/** A UDP port free now, for a listener the test must name before it starts (callpay's SIP, sipp's). */
async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('self-service by calling in (embedded engine, sipp as the phone)', { timeout: 120_000 }, () => {
  let w: TestWorld | undefined;
  const sipps: Sipp[] = [];
  const cleanups: Array<() => void> = [];

  afterEach(async () => {
    await w?.close();
    w = undefined;
    for (const s of sipps.splice(0)) await s.stop();
    for (const c of cleanups.splice(0)) c();
  });

  function pcap(digits: string): string {
    const file = join(tmpdir(), `callpay-self-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.pcap`);
    cleanups.push(() => rmSync(file, { force: true }));
    writeDtmfPcap(file, { digits, leadMs: 1500, silencePayloadType: 0, gapMs: 150 });
    return file;
  }

  /** The daemon on a SIP port chosen here, trusting `trusted` ("host:port") as the trunk. */
  async function world(phonePort: number, sipPort: number, trusted: string, env: Record<string, string> = {}): Promise<TestWorld> {
    w = await startCallingWorld(phonePort, {
      CALLPAY_SELF_SERVICE_ENABLED: 'true',
      CALLPAY_TELEPHONY_SIP_BIND_PORT: String(sipPort),
      CALLPAY_TELEPHONY_SIP_TRUSTED_SOURCES: trusted,
      CALLPAY_TELEPHONY_SIP_RING_TIMEOUT_MS: '5000',
      CALLPAY_IVR_FIRST_DIGIT_TIMEOUT_MS: '4000',
      CALLPAY_IVR_INTER_DIGIT_TIMEOUT_MS: '2000',
      ...env,
    });
    return w;
  }

  /** The consumer's call: From `caller`, P-Asserted-Identity `pai`, keys `digits`; sipp's own SIP port is `sipPort`. */
  async function callIn(sipPort: number, callpayPort: number, opts: { caller: string; pai: string; digits: string }): Promise<Sipp> {
    const s = await startSipp({
      scenario: 'self-service-call', remote: `127.0.0.1:${callpayPort}`, sipPort, pcap: pcap(opts.digits),
      vars: { caller: opts.caller, pai: opts.pai }, timeoutMs: 60_000,
    });
    sipps.push(s);
    return s;
  }

  const auditActions = async (t: TestWorld) => (await t.query<{ actor: string; action: string }>('SELECT actor, action FROM audit_log ORDER BY seq')).map((r) => `${r.actor} ${r.action}`);

  it('changes the PIN on an inbound call (caller named by the trunk\'s P-Asserted-Identity); the new PIN then authorizes a payment, and a later call hears it and locks payments', async () => {
    const phone = await startSipp({ scenario: 'answer-dtmf', pcap: pcap('135790#'), timeoutMs: 90_000 });
    sipps.push(phone);
    const [callpayPort, consumerPort] = [await freeUdpPort(), await freeUdpPort()];
    const t = await world(phone.port, callpayPort, `127.0.0.1:${consumerPort}`);
    await enrolPrepaid(t, 'alice', '1000', ['--locale', 'en-US']);

    // From is a number nobody enrolled: only the asserted identity, from the trusted trunk, names alice.
    const consumer = await callIn(consumerPort, callpayPort, { caller: '+15550100', pai: ENROLLED, digits: '482916#2135790#135790#9' });
    expect((await consumer.outcome()).code, consumer.logs()).toBe(0);
    expect(await auditActions(t)).toContain('self-service consumer.self_set_pin');
    expect(await t.query('SELECT count(*) AS n FROM pin_failures')).toEqual([{ n: 0 }]);

    const created = await t.api('POST', '/v1/payments', {
      idem: 'self-1', body: { amount: 15000, currency: 'TWD', reference: 'self', description: 'Oyster omelette', return_url: 'https://shop.example/', login_account: 'alice' },
    });
    expect(await finalOf(t, created.body.id)).toMatchObject({ status: 'succeeded' });
    expect((await phone.outcome()).code, phone.logs()).toBe(0);

    // Called again with the new PIN: hears the payment (1), then locks payments (4, 1).
    const again = await callIn(consumerPort, callpayPort, { caller: ENROLLED, pai: ENROLLED, digits: '135790#1419' });
    expect((await again.outcome()).code, again.logs()).toBe(0);
    expect(await t.query('SELECT status FROM consumers')).toEqual([{ status: 'locked' }]);
    expect((await auditActions(t)).filter((x) => x.startsWith('self-service'))).toEqual(['self-service consumer.self_set_pin', 'self-service consumer.self_lock']);
  });

  it('refuses a caller whose P-Asserted-Identity comes from an address that is not a trunk, before answering; nothing counted', async () => {
    const [callpayPort, consumerPort] = [await freeUdpPort(), await freeUdpPort()];
    // The trunk is elsewhere: the enrolled number asserted from the consumer's own address is a spoof.
    const t = await world(9, callpayPort, '127.0.0.2:5060');
    await enrolPrepaid(t, 'alice', '1000');
    const spoof = await startSipp({
      scenario: 'self-service-refused', remote: `127.0.0.1:${callpayPort}`, sipPort: consumerPort,
      vars: { caller: ENROLLED, pai: ENROLLED }, timeoutMs: 20_000,
    });
    sipps.push(spoof);
    // 403 without a 200: never answered, no audio sent to the address the stranger's SDP names
    expect((await spoof.outcome()).code, spoof.logs()).toBe(0);
    expect(spoof.messages()).not.toMatch(/SIP\/2\.0 200 OK/);
    expect(await t.query('SELECT count(*) AS n FROM pin_failures')).toEqual([{ n: 0 }]);
    expect((await auditActions(t)).filter((a) => a.startsWith('self-service'))).toEqual([]);
  });

  it('answers a trunk call for a number nobody enrolled with the short refusal, and hangs up', async () => {
    const [callpayPort, consumerPort] = [await freeUdpPort(), await freeUdpPort()];
    const t = await world(9, callpayPort, `127.0.0.1:${consumerPort}`);
    await enrolPrepaid(t, 'alice', '1000');
    const stranger = await callIn(consumerPort, callpayPort, { caller: '+886922222222', pai: '+886922222222', digits: '482916#' });
    // the scenario passes only on callpay's BYE; a PIN keyed anyway is never checked
    expect((await stranger.outcome()).code, stranger.logs()).toBe(0);
    expect(await t.query('SELECT count(*) AS n FROM pin_failures')).toEqual([{ n: 0 }]);
  });

  it('counts wrong PINs keyed on an inbound call toward the same lockout as the authorization call', async () => {
    const [callpayPort, consumerPort] = [await freeUdpPort(), await freeUdpPort()];
    const t = await world(9, callpayPort, `127.0.0.1:${consumerPort}`, { CALLPAY_IVR_LOCKOUT_ATTEMPTS: '3' });
    await enrolPrepaid(t, 'alice', '1000');
    const caller = await callIn(consumerPort, callpayPort, { caller: ENROLLED, pai: ENROLLED, digits: '1111#2222#3333#' });
    expect((await caller.outcome()).code, caller.logs()).toBe(0);
    expect(await t.query('SELECT count(*) AS n FROM pin_failures WHERE payment_id IS NULL')).toEqual([{ n: 3 }]);
    expect(await t.query('SELECT status FROM consumers')).toEqual([{ status: 'locked' }]);
    // the lockout is the payments' own: the next payment is declined without a call
    const created = await t.api('POST', '/v1/payments', {
      idem: 'self-2', body: { amount: 15000, currency: 'TWD', reference: 'self', description: 'x', return_url: 'https://shop.example/', login_account: 'alice' },
    });
    expect(created.body).toMatchObject({ status: 'declined', failure_code: 'consumer_locked' });
  });
});
