import { connect, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../src/log.js';
import { createSipUserAgent, type SipUserAgent } from '../src/telephony/sip/index.js';
import { getHeader } from '../src/telephony/sip/message.js';
import { ANSWER, NUMBER, OFFER } from './helpers/fake-phone.js';
import { Fuzzer } from './helpers/sip-fuzz.js';
import { StreamPhone } from './helpers/stream-phone.js';
import { waitFor } from './helpers/wait.js';

const CHUNKS = 1500;

/**
 * Hostile bytes over TCP: the sip-fuzz corpus (forged in-dialog requests, lying Content-Lengths,
 * header bombs, random bytes) written as a stream to the UA's TCP listener from another address
 * (127.0.0.2), on a new connection whenever the UA closes one. The live call must stay up, no
 * forged request may touch it, and the UA must still serve the phone and newcomers afterwards.
 */
describe('SIP over TCP: a live call under a stream of hostile bytes', () => {
  let phone: StreamPhone;
  let ua: SipUserAgent;
  let log: Logger;
  let logLines: string[];

  beforeEach(async () => {
    logLines = [];
    log = createLogger({ level: 'info', destination: { write: (s: string) => void logLines.push(s) } });
    phone = await StreamPhone.start();
    ua = await createSipUserAgent({ bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, timers: { t1: 50 }, log });
  });
  afterEach(async () => {
    phone.answerByes = true;
    await ua.close();
    await phone.close();
    expect(logLines.join('')).not.toContain(NUMBER.slice(1));
  });

  it(`survives ${CHUNKS} hostile chunks: the call stays up, the phone's own BYE still ends it`, { timeout: 60_000 }, async () => {
    const result = ua.invite({ requestUri: `sip:${NUMBER}@127.0.0.1:${phone.port};transport=tcp`, from: 'sip:callpay@example.com', displayName: '', sdpOffer: OFFER, ringTimeoutMs: 10_000, log });
    const invite = await phone.request('INVITE');
    phone.respond(invite, 200, 'OK', { toTag: 'ph1', body: ANSWER, headers: [`Contact: <${phone.uri()}>`, 'Content-Type: application/sdp'] });
    const r = await result;
    if (r.kind !== 'answered') throw new Error(r.kind);
    let ended = false;
    void r.dialog.ended.then(() => (ended = true));
    const digits: string[] = [];
    r.dialog.onDtmfInfo((d) => digits.push(d));

    const fuzzer = new Fuzzer(20261130, {
      fuzzPort: 5999,
      dialog: {
        callId: invite.msg.core.callId, ourTag: invite.msg.core.from.tag ?? '', phoneTag: 'ph1',
        phoneFrom: `${getHeader(invite.msg, 'to')};tag=ph1`, phoneTo: getHeader(invite.msg, 'from') ?? '', eventPt: 96,
      },
    });
    let socket: Socket | null = null;
    let connections = 0;
    const open = async (): Promise<Socket> => {
      const s = connect({ host: '127.0.0.1', port: ua.local.port, localAddress: '127.0.0.2' });
      s.on('error', () => {});
      s.on('data', () => {});
      await new Promise<void>((resolve) => s.once('connect', () => resolve()));
      connections += 1;
      return s;
    };
    for (let sent = 0; sent < CHUNKS; ) {
      const d = fuzzer.nextDatagram();
      if (d.to !== 'sip') continue;
      if (!socket || socket.destroyed || !socket.writable) socket = await open();
      await new Promise<void>((resolve) => socket!.write(d.data, () => resolve()));
      sent += 1;
    }
    socket?.destroy();
    expect(connections).toBeGreaterThan(1); // framing errors did close connections

    // The UA still answers a newcomer, and the call is untouched: the phone's BYE ends it.
    const probe = await phone.connect(ua.local.port);
    phone.send(phone.dialogRequest(invite, 'ph1', 'INFO', 5, { body: 'Signal=7\r\nDuration=100\r\n', headers: ['Content-Type: application/dtmf-relay'] }), probe);
    await phone.response(200, 'INFO');
    expect(ended).toBe(false);
    expect(digits).toEqual(['7']);
    phone.send(phone.dialogRequest(invite, 'ph1', 'BYE', 6), invite.conn);
    await phone.response(200, 'BYE');
    await waitFor('the call to end', () => ended);
  });
});
