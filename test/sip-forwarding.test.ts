import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { forwardingSigns } from '../src/telephony/sip/forwarding.js';
import { createSipUserAgent, type SipUserAgent } from '../src/telephony/sip/index.js';
import { parseMessage, type IncomingResponse } from '../src/telephony/sip/message.js';
import { crlf, NUMBER } from './helpers/fake-phone.js';
import { startSipp, type Sipp } from './helpers/sipp.js';

const log = pino({ level: 'silent' });

function response(status: string, headers: string[]): IncomingResponse {
  const r = parseMessage(Buffer.from(crlf([
    `SIP/2.0 ${status}`, 'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1', 'From: <sip:callpay@127.0.0.1>;tag=a', 'To: <sip:x@127.0.0.1>;tag=b',
    'Call-ID: c1', 'CSeq: 1 INVITE', ...headers, 'Content-Length: 0', '', '',
  ])));
  if (!r.ok || r.message.type !== 'response') throw new Error('test response did not parse');
  return r.message;
}

describe('signs that a call was forwarded (issue 16, item 3)', () => {
  it.each([
    ['180 Ringing', [], []],
    ['181 Call Is Being Forwarded', [], ['181']],
    ['180 Ringing', ['Diversion: <sip:+15550100@carrier.example>;reason=unconditional'], ['diversion']],
    ['200 OK', ['History-Info: <sip:a@x>;index=1'], []],
    ['200 OK', ['History-Info: <sip:a@x>;index=1, <sip:b@y>;index=1.1'], ['history-info']],
    ['200 OK', ['History-Info: <sip:a@x>;index=1', 'History-Info: <sip:b@y;p=1,2>;index=1.1'], ['history-info']],
    ['181 Call Is Being Forwarded', ['Diversion: <sip:1@x>', 'History-Info: <sip:a@x>;index=1,<sip:b@y>;index=1.1'], ['181', 'diversion', 'history-info']],
  ])('%s %j → %j', (status, headers, signs) => {
    expect(forwardingSigns(response(status, headers))).toEqual(signs);
  });

  let sipp: Sipp | undefined;
  let ua: SipUserAgent | undefined;
  afterEach(async () => {
    await ua?.close();
    await sipp?.stop();
    ua = undefined;
    sipp = undefined;
  });

  const offer = crlf(['v=0', 'o=callpay 1 1 IN IP4 127.0.0.1', 's=callpay', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', '']);

  it.each([
    ['answer-forwarded', [['181', 'diversion'], ['181', 'diversion']], ['181', 'diversion', 'history-info']],
    ['answer-after-ring', [[]], []],
  ] as const)('the user agent reports them against sipp (%s): with each provisional response, and in the answer', async (scenario, provisional, answered) => {
    sipp = await startSipp({ scenario, timeoutMs: 20_000 });
    ua = await createSipUserAgent({ bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, log });
    const seen: Array<readonly string[]> = [];
    const r = await ua.invite({
      requestUri: `sip:${NUMBER}@${sipp.hostPort}`, from: 'sip:callpay@127.0.0.1', displayName: 'callpay', sdpOffer: offer, ringTimeoutMs: 10_000, log,
      onProvisional: (p) => seen.push(p.forwarded),
    });
    if (r.kind !== 'answered') throw new Error(`${r.kind} ${r.reason}\n${sipp.logs()}`);
    expect(seen).toEqual(provisional);
    expect(r.forwarded).toEqual(answered);
    if (scenario === 'answer-forwarded') expect(await r.dialog.ended).toBe('remote'); // that phone hangs up itself
    else await r.dialog.bye();
    expect((await sipp.outcome()).code, sipp.logs()).toBe(0);
  });
});
