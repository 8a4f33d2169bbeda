import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SessionMedia } from '../src/telephony/sip/index.js';
import { commonEvents, OfferAnswer } from '../src/telephony/sip/offer-answer.js';
import { OFFER } from './helpers/fake-phone.js';
import { random } from './helpers/random.js';

/** The RFC 3264 answerer of re-INVITEs, without sockets (the SIP-level tests are in sip-reinvite.test.ts). */
describe('offer/answer (unit)', () => {
  const initial: SessionMedia = { codec: 'PCMA', payloadType: 8, telephoneEventPt: 96, remoteHost: '127.0.0.1', remotePort: 41000, send: true };

  it('keeps only the telephone-events both sides know', () => {
    expect(commonEvents(undefined)).toBe('0-15');
    expect(commonEvents('0-15')).toBe('0-15');
    expect(commonEvents('0-16')).toBe('0-16');
    expect(commonEvents('0-11,16')).toBe('0-11,16');
    expect(commonEvents('0-255')).toBe('0-16');
    expect(commonEvents('32-49')).toBe('');
  });

  it('never throws on mangled offers and never echoes a line break from them', () => {
    const next = random(20261126);
    const pieces = ['m=audio', 'm=video', 'c=IN IP4', 'c=IN IP6 ::', 'a=rtpmap:', 'a=sendonly', 'a=fmtp:101 ', 'RTP/AVP', ' 0', ' 8', ' 101', ' 99999999', ' -1', ' x', '/8000', ' PCMU', ' telephone-event', '\r\n', ' 1.2.3.4', ' 0.0.0.0', '\u0000', ' 65536'];
    for (let i = 0; i < 3000; i++) {
      const oa = new OfferAnswer(OFFER, initial);
      const sdp = 'v=0\r\n' + Array.from({ length: 16 }, () => pieces[next(pieces.length)]).join('');
      const r = oa.answer(sdp);
      expect(typeof r.ok).toBe('boolean');
      if (r.ok) {
        expect(r.answer).not.toMatch(/\r(?!\n)|(?<!\r)\n|\u0000/);
        expect(r.media.payloadType).not.toBe(r.media.telephoneEventPt);
      }
    }
    expect(new OfferAnswer(OFFER, initial).answer(randomBytes(2000).toString('latin1')).ok).toBe(false);
  });
});
