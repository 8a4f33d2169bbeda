import { beforeEach, describe, expect, it } from 'vitest';
import type { SessionMedia, SipUserAgent } from '../src/telephony/sip/index.js';
import { getHeader } from '../src/telephony/sip/message.js';
import { ANSWER, OFFER, crlf, phoneRequest, uaHarness, type FakePhone } from './helpers/fake-phone.js';

/** A phone's re-offer: its SDP (version `v`) with the given m= line, attributes and address. */
function reoffer(v: number, m: string, attrs: string[] = [], address = '127.0.0.1'): string {
  return crlf(['v=0', `o=phone 9 ${v} IN IP4 ${address}`, 's=-', `c=IN IP4 ${address}`, 't=0 0', m, ...attrs, '']);
}
const sdpLines = (sdp: string) => sdp.split('\r\n').filter((l) => l.length > 0);

/**
 * Issue 10, D7: a re-INVITE is answered per RFC 3264 from what it offers (direction, codecs, address),
 * with our o= version going up only when our SDP changes; unusable offers get 488 and change nothing.
 */
describe('SIP user agent: re-INVITE answered per RFC 3264', () => {
  let phone: FakePhone;
  let ua: SipUserAgent;
  const h = uaHarness();
  const { answer, contact } = h;
  beforeEach(() => {
    ({ phone, ua } = h.current());
  });

  /** Answers the call, then sends each re-INVITE body in turn (ACKing each final answer); returns the answers. */
  async function reinvites(bodies: Array<string | { body: string; type: string }>) {
    const { r, invite } = await answer();
    const updates: SessionMedia[] = [];
    r.dialog.onSessionUpdate((m) => updates.push(m));
    const answers: Array<{ status: number; body: string; warning: string | undefined }> = [];
    let cseq = 2;
    for (const b of bodies) {
      const { body, type } = typeof b === 'string' ? { body: b, type: 'application/sdp' } : b;
      const seq = cseq++;
      const headers = [contact(), ...(body ? [`Content-Type: ${type}`] : [])];
      phone.send(phoneRequest(phone, invite, 'ph1', 'INVITE', seq, { body, headers }), ua.local);
      const res = await phone.next((m) => m.msg.type === 'response' && m.msg.core.cseq.seq === seq && m.msg.status >= 200);
      if (res.msg.type !== 'response') throw new Error('not a response');
      answers.push({ status: res.msg.status, body: res.msg.body, warning: getHeader(res.msg, 'warning') });
      phone.send(phoneRequest(phone, invite, 'ph1', 'ACK', seq), ua.local);
    }
    await phone.roundTrip(ua.local);
    return { r, invite, updates, answers };
  }

  it('hold (sendonly) gets recvonly and stops our sending; resume gets sendrecv; the version moves only on change', async () => {
    const m = 'm=audio 41000 RTP/AVP 8 96';
    const maps = ['a=rtpmap:8 PCMA/8000', 'a=rtpmap:96 telephone-event/8000'];
    const { answers, updates } = await reinvites([
      reoffer(2, m, [...maps, 'a=sendonly']),
      reoffer(3, m, maps), // no attribute: sendrecv
      reoffer(3, m, [...maps, 'a=sendrecv']), // a refresh of the same session: our answer is unchanged
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    const [hold = [], resume = [], refresh] = answers.map((a) => sdpLines(a.body));
    expect(hold).toContain('a=recvonly');
    expect(hold).toContain('m=audio 40000 RTP/AVP 8 96'); // their codecs and payload types, our port
    expect(hold).toContain('a=rtpmap:96 telephone-event/8000');
    expect(hold).toContain('a=fmtp:96 0-15'); // no fmtp offered: 0-15 (RFC 4733 §7.1.1)
    expect(hold.find((l) => l.startsWith('o='))).toBe('o=callpay 1 2 IN IP4 127.0.0.1');
    expect(resume).toContain('a=sendrecv');
    expect(resume.find((l) => l.startsWith('o='))).toBe('o=callpay 1 3 IN IP4 127.0.0.1');
    expect(refresh).toEqual(resume); // unchanged SDP, unchanged version (RFC 3264 §8)
    const media = { codec: 'PCMA', payloadType: 8, telephoneEventPt: 96, remoteHost: '127.0.0.1', remotePort: 41000 };
    expect(updates).toEqual([{ ...media, send: false }, { ...media, send: true }, { ...media, send: true }]);
  });

  it.each([
    ['a=inactive', 'a=inactive', false],
    ['a=recvonly', 'a=sendonly', true],
    ['a=sendonly', 'a=recvonly', false],
    ['a=sendrecv', 'a=sendrecv', true],
  ] as const)('offer %s → answer %s (we send: %s)', async (offered, answered, send) => {
    const { answers, updates } = await reinvites([reoffer(2, 'm=audio 41000 RTP/AVP 0', [offered])]);
    expect(sdpLines(answers[0]!.body)).toContain(answered);
    expect(updates[0]?.send).toBe(send);
  });

  it('a session-level direction counts; c=0.0.0.0 (RFC 2543 hold) means send nothing and keeps the address', async () => {
    const sessionLevel = crlf(['v=0', 'o=phone 9 2 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'a=sendonly', 'm=audio 41000 RTP/AVP 0', '']);
    const { answers, updates } = await reinvites([sessionLevel, reoffer(3, 'm=audio 45000 RTP/AVP 0', [], '0.0.0.0')]);
    expect(sdpLines(answers[0]!.body)).toContain('a=recvonly');
    expect(sdpLines(answers[1]!.body)).toContain('a=recvonly');
    expect(updates[1]).toMatchObject({ send: false, remoteHost: '127.0.0.1', remotePort: 41000 });
  });

  it('follows a new address, port, codec order and telephone-event payload type', async () => {
    const offer = reoffer(2, 'm=audio 43000 RTP/AVP 18 0 8 97', ['a=rtpmap:18 G729/8000', 'a=rtpmap:97 telephone-event/8000', 'a=fmtp:97 0-16'], '127.0.0.2');
    const { answers, updates } = await reinvites([offer]);
    const lines = sdpLines(answers[0]!.body);
    expect(lines).toContain('m=audio 40000 RTP/AVP 0 8 97'); // G.729 dropped, their order kept
    expect(lines).toContain('a=fmtp:97 0-16');
    expect(lines.some((l) => l.includes('G729'))).toBe(false);
    expect(updates).toEqual([{ codec: 'PCMU', payloadType: 0, telephoneEventPt: 97, remoteHost: '127.0.0.2', remotePort: 43000, send: true }]);
  });

  it('an offer with no codec in common gets 488; the session stays as it was', async () => {
    const g729 = reoffer(2, 'm=audio 43000 RTP/AVP 18', ['a=rtpmap:18 G729/8000']);
    const { answers, updates } = await reinvites([g729, reoffer(3, 'm=audio 41000 RTP/AVP 8 96', ['a=rtpmap:96 telephone-event/8000'])]);
    expect(answers[0]).toMatchObject({ status: 488, body: '' });
    expect(answers[0]!.warning).toMatch(/^305 /);
    expect(answers[1]!.status).toBe(200);
    expect(updates).toHaveLength(1); // only the acceptable offer changed anything
    expect(sdpLines(answers[1]!.body).find((l) => l.startsWith('o='))).toBe('o=callpay 1 2 IN IP4 127.0.0.1');
  });

  it('answers every offered stream in order: the first usable audio is taken, the others get port 0', async () => {
    const offer = crlf([
      'v=0', 'o=phone 9 2 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
      'm=audio 42000 RTP/AVP 18', 'a=rtpmap:18 G729/8000',
      'm=video 42002 RTP/AVP 31', 'a=rtpmap:31 H261/90000',
      'm=audio 42004 RTP/AVP 0',
      'm=audio 42006 RTP/AVP 8',
      '',
    ]);
    const { answers, updates } = await reinvites([offer]);
    expect(sdpLines(answers[0]!.body).filter((l) => l.startsWith('m='))).toEqual([
      'm=audio 0 RTP/AVP 18', 'm=video 0 RTP/AVP 31', 'm=audio 40000 RTP/AVP 0', 'm=audio 0 RTP/AVP 8',
    ]);
    expect(updates[0]).toMatchObject({ codec: 'PCMU', remotePort: 42004 });
  });

  it('a re-INVITE without SDP gets our offer; the answer comes in the ACK; a second offer meanwhile gets 491', async () => {
    const { r, invite } = await answer();
    const updates: SessionMedia[] = [];
    r.dialog.onSessionUpdate((m) => updates.push(m));
    phone.send(phoneRequest(phone, invite, 'ph1', 'INVITE', 2, { headers: [contact()] }), ua.local);
    const ok = await phone.response(200, 'INVITE');
    expect(ok.msg.body).toBe(OFFER); // nothing changed since our INVITE: the same SDP, the same version
    phone.send(phoneRequest(phone, invite, 'ph1', 'INVITE', 3, { body: ANSWER, headers: ['Content-Type: application/sdp'] }), ua.local);
    await phone.response(491, 'INVITE');
    phone.send(phoneRequest(phone, invite, 'ph1', 'ACK', 3), ua.local);
    const answerSdp = ANSWER.replace('m=audio 41000 RTP/AVP 8 96', 'm=audio 44000 RTP/AVP 0 96').replace('a=rtpmap:8 PCMA/8000', 'a=rtpmap:0 PCMU/8000');
    phone.send(phoneRequest(phone, invite, 'ph1', 'ACK', 2, { body: answerSdp, headers: ['Content-Type: application/sdp'] }), ua.local);
    await phone.roundTrip(ua.local);
    expect(updates).toEqual([{ codec: 'PCMU', payloadType: 0, telephoneEventPt: 96, remoteHost: '127.0.0.1', remotePort: 44000, send: true }]);
  });

  it('a body that is not SDP gets 415 with Accept', async () => {
    const { invite } = await answer();
    phone.send(phoneRequest(phone, invite, 'ph1', 'INVITE', 2, { body: '<x/>', headers: ['Content-Type: application/xml'] }), ua.local);
    const res = await phone.response(415, 'INVITE');
    expect(getHeader(res.msg, 'accept')).toBe('application/sdp');
  });
});
