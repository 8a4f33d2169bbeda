import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { CallpayError } from '../src/domain/errors.js';
import { createLogger, type Logger } from '../src/log.js';
import { createSipUserAgent, type SessionMedia, type SipUserAgent } from '../src/telephony/sip/index.js';
import { getHeader, getHeaders, parseMessage, type SipMessage } from '../src/telephony/sip/message.js';
import { actAfterMs, after422, allowsMethod, answerRefresh, hasOptionTag, parseMinSe, parseSessionExpires, scheduleFromResponse } from '../src/telephony/sip/session-timer.js';
import { ANSWER, NUMBER, OFFER, crlf, phoneRequest, uaHarness, type FakePhone } from './helpers/fake-phone.js';
import { parseSipTrace, startSipp, type Sipp, type TracedMessage } from './helpers/sipp.js';
import { waitFor } from './helpers/wait.js';

/**
 * RFC 4028 session timers on the caller side: our INVITE asks for an interval, a 422 raises it once,
 * the 2xx decides who refreshes; as refresher we UPDATE (or re-INVITE with our SDP unchanged) at half
 * the interval, otherwise a missing refresh ends the call before expiry; 408/481 to a refresh ends it.
 */

function message(first: string, headers: string[]): SipMessage {
  const text = crlf([first, 'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKabc', 'From: <sip:a@x>;tag=1', 'To: <sip:b@x>;tag=2', 'Call-ID: c', `CSeq: 1 ${first.startsWith('SIP/') ? 'INVITE' : first.split(' ')[0]}`, ...headers, 'Content-Length: 0', '', '']);
  const parsed = parseMessage(text);
  if (!parsed.ok) throw new Error(parsed.error.code);
  return parsed.message;
}
const ok = (...headers: string[]) => message('SIP/2.0 200 OK', headers);
const update = (...headers: string[]) => message('UPDATE sip:callpay@127.0.0.1 SIP/2.0', headers);

describe('session timer headers and decisions', () => {
  it('reads Session-Expires (compact form x too) and Min-SE; unreadable values count as absent', () => {
    expect(parseSessionExpires('1800')).toEqual({ seconds: 1800, refresher: null });
    expect(parseSessionExpires(' 90 ; refresher=UAS ')).toEqual({ seconds: 90, refresher: 'uas' });
    expect(parseSessionExpires('2;refresher=uac;foo=bar')).toEqual({ seconds: 2, refresher: 'uac' });
    expect(parseSessionExpires('4;refresher=nobody')).toEqual({ seconds: 4, refresher: null });
    expect(parseSessionExpires('99999999999')?.seconds).toBe(2_147_483); // what a timer can hold
    for (const bad of [undefined, '', '0', '-5', 'soon', '1800 refresher=uac', '1800;=', '1.5']) expect(parseSessionExpires(bad), String(bad)).toBeNull();
    expect(getHeader(ok('x: 300;refresher=uac'), 'session-expires')).toBe('300;refresher=uac');
    expect(parseMinSe('90')).toBe(90);
    expect(parseMinSe('120;x=y')).toBe(120);
    for (const bad of [undefined, '', '0', 'ninety', '90 90']) expect(parseMinSe(bad), String(bad)).toBeNull();
  });

  it('a 2xx without Session-Expires means no timer; otherwise we refresh unless it names the UAS', () => {
    expect(scheduleFromResponse(ok())).toBeNull();
    expect(scheduleFromResponse(ok('Session-Expires: bogus'))).toBeNull();
    expect(scheduleFromResponse(ok('Session-Expires: 1800;refresher=uac', 'Require: timer'))).toEqual({ seconds: 1800, weRefresh: true });
    expect(scheduleFromResponse(ok('Session-Expires: 2;refresher=uas'))).toEqual({ seconds: 2, weRefresh: false }); // short: honoured
    expect(scheduleFromResponse(ok('Session-Expires: 600'))).toEqual({ seconds: 600, weRefresh: true });
  });

  it('answers the phone\'s refresh: its interval and choice, else the phone when it supports timers, else us', () => {
    expect(answerRefresh(update('Session-Expires: 3;refresher=uac', 'Supported: timer'), null)).toEqual({
      schedule: { seconds: 3, weRefresh: false }, headers: [['session-expires', '3;refresher=uac'], ['require', 'timer']],
    });
    expect(answerRefresh(update('Session-Expires: 300'), null)).toEqual({ schedule: { seconds: 300, weRefresh: true }, headers: [['session-expires', '300;refresher=uas']] });
    expect(answerRefresh(update('Supported: timer'), { seconds: 120, weRefresh: true })).toEqual({
      schedule: { seconds: 120, weRefresh: false }, headers: [['session-expires', '120;refresher=uac'], ['require', 'timer']],
    });
    expect(answerRefresh(update(), null)).toEqual({ schedule: null, headers: [] });
  });

  it('a 422 raises Session-Expires and Min-SE to its Min-SE, once and only upwards', () => {
    expect(after422(ok('Min-SE: 1900'), { seconds: 1800, minSe: 90 })).toEqual({ seconds: 1900, minSe: 1900 });
    expect(after422(ok('Min-SE: 600'), { seconds: 1800, minSe: 90 })).toEqual({ seconds: 1800, minSe: 600 });
    expect(after422(ok('Min-SE: 90'), { seconds: 1800, minSe: 90 })).toBeNull();
    expect(after422(ok(), { seconds: 1800, minSe: 90 })).toBeNull();
  });

  it('acts at half the interval as refresher, else at expiry minus min(32 s, a third)', () => {
    expect(actAfterMs({ seconds: 1800, weRefresh: true })).toBe(900_000);
    expect(actAfterMs({ seconds: 1800, weRefresh: false })).toBe(1_768_000);
    expect(actAfterMs({ seconds: 3, weRefresh: false })).toBe(2000);
  });

  it('reads option tags and Allow entries', () => {
    const m = ok('Supported: 100rel, Timer', 'Allow: INVITE, UPDATE', 'Require: timer');
    expect(hasOptionTag(m, 'supported', 'timer')).toBe(true);
    expect(hasOptionTag(m, 'require', '100rel')).toBe(false);
    expect(allowsMethod(m, 'UPDATE')).toBe(true);
    expect(allowsMethod(ok('Allow: INVITE, update'), 'UPDATE')).toBe(false);
  });

  it('telephony.sip.sessionExpiresSeconds: default 1800, env override, at least 90', () => {
    const dir = mkdtempSync(join(tmpdir(), 'callpay-st-'));
    try {
      expect(loadConfig({ cwd: dir, env: {} }).telephony.sip.sessionExpiresSeconds).toBe(1800);
      expect(loadConfig({ cwd: dir, env: { CALLPAY_TELEPHONY_SIP_SESSION_EXPIRES_SECONDS: '600' } }).telephony.sip.sessionExpiresSeconds).toBe(600);
      let caught: unknown;
      try {
        loadConfig({ cwd: dir, env: { CALLPAY_TELEPHONY_SIP_SESSION_EXPIRES_SECONDS: '60' } });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(CallpayError);
      expect((caught as CallpayError).field).toBe('telephony.sip.sessionExpiresSeconds');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('session timers against a fake phone', () => {
  let phone: FakePhone;
  let ua: SipUserAgent;
  const h = uaHarness();
  const { answer, dial, contact } = h;
  beforeEach(() => {
    ({ phone, ua } = h.current());
  });

  it('the INVITE asks for the configured interval; a 422 is retried once with its Min-SE; a second 422 fails the call', async () => {
    await h.restartUa(50, { sessionExpiresSeconds: 600 });
    ua = h.current().ua;
    const result = dial();
    const first = await phone.request('INVITE');
    expect(getHeader(first.msg, 'session-expires')).toBe('600');
    expect(getHeader(first.msg, 'min-se')).toBe('90');
    expect(getHeaders(first.msg, 'supported')).toEqual(['100rel', 'timer']);
    phone.respond(first, 422, 'Session Interval Too Small', { toTag: 'p0', headers: ['Min-SE: 900'] });
    const second = await phone.next((r) => r.msg.type === 'request' && r.msg.method === 'INVITE' && r.msg.core.cseq.seq === 2);
    expect(getHeader(second.msg, 'session-expires')).toBe('900');
    expect(getHeader(second.msg, 'min-se')).toBe('900');
    expect(second.msg.core.from.tag).toBe(first.msg.core.from.tag);
    expect(second.msg.core.callId).toBe(first.msg.core.callId);
    phone.respond(second, 422, 'Session Interval Too Small', { toTag: 'p0', headers: ['Min-SE: 1200'] });
    expect(await result).toMatchObject({ kind: 'failed', sipStatus: 422 });
  });

  it('a 422 without a usable Min-SE is not retried', async () => {
    const result = dial();
    const invite = await phone.request('INVITE');
    phone.respond(invite, 422, 'Session Interval Too Small', { toTag: 'p0', headers: ['Min-SE: soon'] });
    expect(await result).toMatchObject({ kind: 'failed', sipStatus: 422 });
    expect(phone.requests('INVITE')).toHaveLength(1);
  });

  it('answers the phone\'s refresh re-INVITE and UPDATE with Session-Expires; an UPDATE offer gets an answer and moves the media', async () => {
    const { r, invite } = await answer({}, ['Session-Expires: 1800;refresher=uas', 'Require: timer']);
    const updates: SessionMedia[] = [];
    r.dialog.onSessionUpdate((m) => updates.push(m));
    const reoffer = ANSWER.replace('o=phone 9 9', 'o=phone 9 10').replace('m=audio 41000', 'm=audio 41500');
    phone.send(phoneRequest(phone, invite, 'ph1', 'INVITE', 2, { body: ANSWER, headers: [contact(), 'Content-Type: application/sdp', 'Supported: timer', 'Session-Expires: 1800;refresher=uac'] }), ua.local);
    const reinviteOk = await phone.response(200, 'INVITE');
    expect(getHeader(reinviteOk.msg, 'session-expires')).toBe('1800;refresher=uac');
    expect(getHeaders(reinviteOk.msg, 'require')).toEqual(['timer']);
    phone.send(phoneRequest(phone, invite, 'ph1', 'ACK', 2), ua.local);
    phone.send(phoneRequest(phone, invite, 'ph1', 'UPDATE', 3, { body: reoffer, headers: [contact(), 'Content-Type: application/sdp', 'Session-Expires: 900'] }), ua.local);
    const updateOk = await phone.response(200, 'UPDATE');
    expect(getHeader(updateOk.msg, 'session-expires')).toBe('900;refresher=uas'); // it did not say it supports timers: we refresh
    expect(getHeader(updateOk.msg, 'require')).toBeUndefined();
    expect(updateOk.msg.body).toContain('m=audio 40000 RTP/AVP 8 96');
    expect(getHeaders(updateOk.msg, 'allow')).toContain('UPDATE');
    expect(updates.at(-1)).toMatchObject({ remotePort: 41500 });
    phone.send(phoneRequest(phone, invite, 'ph1', 'PRACK', 4, { headers: ['RAck: 1 1 INVITE'] }), ua.local);
    expect((await phone.response(481, 'PRACK')).msg.core.cseq).toEqual({ seq: 4, method: 'PRACK' }); // we never send reliable 1xx
  });

  it('as refresher: UPDATE at half the interval; a refused refresh is retried, and the call ends at expiry', async () => {
    const { r } = await answer({}, ['Session-Expires: 4;refresher=uac', 'Require: timer', 'Allow: INVITE, ACK, BYE, UPDATE']);
    const first = await phone.request('UPDATE', 5000);
    expect(getHeader(first.msg, 'session-expires')).toBe('4;refresher=uac');
    expect(getHeaders(first.msg, 'supported')).toContain('timer');
    expect(getHeader(first.msg, 'contact')).toMatch(/^<sip:callpay@/);
    expect(first.msg.body).toBe('');
    phone.respond(first, 500, 'Server Internal Error');
    const retry = await phone.request('UPDATE', 4000); // halfway to the expiry
    phone.respond(retry, 500, 'Server Internal Error');
    const bye = await phone.request('BYE', 4000); // too little time left for another try: BYE at expiry
    expect(bye.at - retry.at).toBeGreaterThan(300);
    phone.respond(bye, 200, 'OK');
    expect(await r.dialog.ended).toBe('local');
  });

  it('falls back to re-INVITE (our SDP, same version) when UPDATE is refused with 405', async () => {
    const { r } = await answer({}, ['Session-Expires: 2;refresher=uac', 'Allow: INVITE, ACK, BYE, UPDATE']);
    const upd = await phone.request('UPDATE', 4000);
    phone.respond(upd, 405, 'Method Not Allowed', { headers: ['Allow: INVITE, ACK, BYE'] });
    const reinvite = await phone.request('INVITE', 4000);
    expect(reinvite.msg.body).toBe(OFFER);
    expect(getHeader(reinvite.msg, 'session-expires')).toBe('2;refresher=uac');
    phone.respond(reinvite, 200, 'OK', { body: ANSWER, headers: [contact(), 'Content-Type: application/sdp', 'Session-Expires: 2;refresher=uac'] });
    const ack = await phone.request('ACK');
    expect(ack.msg.core.cseq).toEqual({ seq: reinvite.msg.core.cseq.seq, method: 'ACK' });
    const next = await phone.request('INVITE', 4000); // the next refresh: re-INVITE again
    expect(next.msg.core.cseq.seq).toBeGreaterThan(reinvite.msg.core.cseq.seq);
    phone.respond(next, 408, 'Request Timeout');
    const bye = await phone.request('BYE', 4000);
    phone.respond(bye, 200, 'OK');
    expect(await r.dialog.ended).toBe('local');
  });
  it('glare: the phone\'s re-INVITE while our refresh re-INVITE is pending gets 491', async () => {
    const { r, invite } = await answer({}, ['Session-Expires: 2;refresher=uac']);
    const ours = await phone.request('INVITE', 4000);
    phone.send(phoneRequest(phone, invite, 'ph1', 'INVITE', 2, { body: ANSWER, headers: [contact(), 'Content-Type: application/sdp'] }), ua.local);
    expect((await phone.response(491, 'INVITE')).msg.core.cseq.seq).toBe(2);
    phone.send(phoneRequest(phone, invite, 'ph1', 'ACK', 2), ua.local);
    phone.respond(ours, 200, 'OK', { body: ANSWER, headers: [contact(), 'Content-Type: application/sdp'] }); // no Session-Expires: timer off
    const ack = await phone.request('ACK');
    expect(ack.msg.core.cseq).toEqual({ seq: ours.msg.core.cseq.seq, method: 'ACK' });
    const bye = r.dialog.bye();
    phone.respond(await phone.request('BYE'), 200, 'OK');
    await bye;
    expect(phone.requests('INVITE')).toHaveLength(2); // the first INVITE and our one refresh
  });
});

describe('session timers against sipp', { timeout: 60_000 }, () => {
  let sipp: Sipp | undefined;
  let ua: SipUserAgent | undefined;
  const logLines: string[] = [];
  const log: Logger = createLogger({ level: 'debug', destination: { write: (s: string) => void logLines.push(s) } });

  afterEach(async () => {
    await ua?.close();
    await sipp?.stop();
    ua = undefined;
    sipp = undefined;
    expect(logLines.join('')).not.toContain(NUMBER.slice(1));
    logLines.length = 0;
  });

  /** sipp writes its trace lazily: progress is read from our own log while the call is up. */
  const refreshesAnswered = () => logLines.filter((l) => l.includes('"msg":"session refresh answered"') && l.includes('"sipStatus":200')).length;

  async function call(scenario: string, vars: Record<string, string>) {
    sipp = await startSipp({ scenario, vars, timeoutMs: 30_000 });
    ua = await createSipUserAgent({ bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, log, timers: { t1: 250 } });
    const r = await ua.invite({ requestUri: `sip:${NUMBER}@${sipp.hostPort}`, from: 'sip:callpay@127.0.0.1', displayName: 'callpay', sdpOffer: OFFER, ringTimeoutMs: 15_000, log });
    if (r.kind !== 'answered') throw new Error(`${r.kind} ${r.reason}\n${sipp.logs()}`);
    return r;
  }
  const received = (s: Sipp, method: string): TracedMessage[] =>
    parseSipTrace(s.messages()).filter((m) => m.direction === 'received' && m.firstLine.startsWith(`${method} `));
  const field = (m: TracedMessage, name: string) => new RegExp(`^${name}:\\s*(.*?)\\s*$`, 'mi').exec(m.text)?.[1];

  it('refresher=uac with UPDATE allowed: refreshes by UPDATE, each carrying Session-Expires', async () => {
    const r = await call('answer-session-timer', { se: '2' });
    const s = sipp!;
    await waitFor('two refreshes answered 200', () => refreshesAnswered() >= 2, { timeoutMs: 15_000 });
    await r.dialog.bye();
    expect((await s.outcome()).code, s.logs()).toBe(0);
    const updates = received(s, 'UPDATE');
    for (const u of updates) {
      expect(field(u, 'Session-Expires')).toBe('2;refresher=uac');
      expect(field(u, 'Content-Length')).toBe('0');
    }
    expect(field(received(s, 'INVITE')[0]!, 'Session-Expires')).toBe('1800');
  });

  it('refresher=uac without UPDATE: refreshes by re-INVITE offering our SDP unchanged (same o= version)', async () => {
    const r = await call('answer-session-timer-reinvite', { se: '2' });
    const s = sipp!;
    await waitFor('two refreshes answered 200', () => refreshesAnswered() >= 2, { timeoutMs: 15_000 });
    await r.dialog.bye();
    expect((await s.outcome()).code, s.logs()).toBe(0);
    const [initial, ...refreshes] = received(s, 'INVITE');
    const origin = (m: TracedMessage) => /^o=.*$/m.exec(m.text)?.[0].trim();
    for (const re of refreshes) {
      expect(origin(re)).toBe(origin(initial!));
      expect(field(re, 'Session-Expires')).toBe('2;refresher=uac');
    }
    expect(received(s, 'ACK').length).toBeGreaterThanOrEqual(3); // the first 2xx and each refresh's
  });

  it('refresher=uas: the phone\'s UPDATE refresh is answered with Session-Expires, and its silence ends the call with BYE', async () => {
    const r = await call('answer-session-timer-uas', { se: '3' });
    const s = sipp!;
    expect(await r.dialog.ended).toBe('local');
    expect((await s.outcome()).code, s.logs()).toBe(0);
    const trace = parseSipTrace(s.messages());
    const updateSent = trace.findIndex((m) => m.direction === 'sent' && m.firstLine.startsWith('UPDATE '));
    const byeAt = trace.findIndex((m) => m.direction === 'received' && m.firstLine.startsWith('BYE '));
    expect(updateSent).toBeGreaterThan(0);
    expect(byeAt).toBeGreaterThan(updateSent); // the refresh restarted the timer: no BYE before it
  });

  it('a refresh answered 481 ends the call with BYE', async () => {
    const r = await call('answer-session-timer-481', { se: '2' });
    expect(await r.dialog.ended).toBe('local');
    expect((await sipp!.outcome()).code, sipp!.logs()).toBe(0);
  });

  it('a 422 is retried with its Min-SE; a 2xx without Session-Expires runs no timer', async () => {
    const r = await call('answer-422', { min_se: '1900' });
    const s = sipp!;
    const invites = received(s, 'INVITE');
    expect(invites.map((m) => [field(m, 'Session-Expires'), field(m, 'Min-SE'), field(m, 'CSeq')])).toEqual([
      ['1800', '90', '1 INVITE'],
      ['1900', '1900', '2 INVITE'],
    ]);
    await r.dialog.bye();
    expect((await s.outcome()).code, s.logs()).toBe(0);
  });
});
