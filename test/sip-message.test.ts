import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { authorizationHeader, digestResponse, parseChallenge } from '../src/telephony/sip/digest.js';
import { parseInfoDtmf } from '../src/telephony/sip/dtmf-info.js';
import { maskUri, parseNameAddr, parseUri, parseVia } from '../src/telephony/sip/headers.js';
import { getHeader, getHeaders, LIMITS, parseMessage, serialize, type IncomingMessage } from '../src/telephony/sip/message.js';
import { buildOffer, parseAnswer } from '../src/telephony/sip/sdp.js';
import { outcomeForStatus } from '../src/telephony/sip/invite.js';

const crlf = (lines: string[]) => lines.join('\r\n');

const SDP = crlf(['v=0', 'o=- 1 1 IN IP4 192.0.2.10', 's=-', 'c=IN IP4 192.0.2.10', 't=0 0', 'm=audio 40000 RTP/AVP 0 101', 'a=rtpmap:101 telephone-event/8000', '']);

const INVITE = crlf([
  'INVITE sip:+886912345678@trunk.example;user=phone SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport',
  'Via: SIP/2.0/UDP 192.0.2.2:5070;branch=z9hG4bKdef',
  'Max-Forwards: 70',
  'From: "Callpay" <sip:callpay@example.com>;tag=1928301774',
  'To: <sip:+886912345678@trunk.example;user=phone>',
  'Call-ID: a84b4c76e66710',
  'CSeq: 314159 INVITE',
  'Contact: <sip:callpay@192.0.2.1:5060>',
  'Content-Type: application/sdp',
  `Content-Length: ${Buffer.byteLength(SDP)}`,
  '',
  SDP,
]);

function parseOk(text: string | Buffer): IncomingMessage {
  const r = parseMessage(text);
  if (!r.ok) throw new Error(`expected a message, got ${r.error.code}: ${r.error.detail}`);
  return r.message;
}

function parseErr(text: string | Buffer): string {
  const r = parseMessage(text);
  expect(r.ok).toBe(false);
  return r.ok ? 'ok' : r.error.code;
}

describe('SIP message parser', () => {
  it('reads a request with its core headers and body', () => {
    const m = parseOk(INVITE);
    expect(m.type).toBe('request');
    if (m.type !== 'request') return;
    expect(m.method).toBe('INVITE');
    expect(m.uri).toBe('sip:+886912345678@trunk.example;user=phone');
    expect(m.core.callId).toBe('a84b4c76e66710');
    expect(m.core.cseq).toEqual({ seq: 314159, method: 'INVITE' });
    expect(m.core.via.branch).toBe('z9hG4bKabc');
    expect(m.core.via.params.has('rport')).toBe(true);
    expect(m.core.from).toMatchObject({ displayName: 'Callpay', uri: 'sip:callpay@example.com', tag: '1928301774' });
    expect(m.core.to.tag).toBeNull();
    expect(getHeaders(m, 'via')).toHaveLength(2);
    expect(m.body).toBe(SDP);
  });

  it('reads a response with a multi-word reason phrase', () => {
    const m = parseOk(crlf(['SIP/2.0 486 Busy Here', 'Via: SIP/2.0/UDP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:c@d>;tag=2', 'Call-ID: x', 'CSeq: 1 INVITE', 'Content-Length: 0', '', '']));
    expect(m).toMatchObject({ type: 'response', status: 486, reason: 'Busy Here' });
  });

  it('expands compact header names and splits comma lists', () => {
    const m = parseOk(
      crlf([
        'SIP/2.0 200 OK',
        'v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK2',
        'f: sip:a@b;tag=1',
        't: "Bob, Jr." <sip:c@d>;tag=2',
        'i: compact@host',
        'CSEQ: 7 INVITE',
        'm: <sip:c@10.0.0.9:5062>',
        'Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>',
        'c: application/sdp',
        'l: 0',
        '',
        '',
      ]),
    );
    expect(getHeaders(m, 'Via')).toHaveLength(2);
    expect(getHeader(m, 'call-id')).toBe('compact@host');
    expect(getHeader(m, 'CONTACT')).toBe('<sip:c@10.0.0.9:5062>');
    expect(getHeaders(m, 'record-route')).toEqual(['<sip:p1.example;lr>', '<sip:p2.example;lr>']);
    expect(m.core.to.displayName).toBe('Bob, Jr.'); // a comma inside quotes is not a list separator
    expect(m.core.from).toMatchObject({ uri: 'sip:a@b', tag: '1' });
    expect(m.core.cseq.seq).toBe(7);
  });

  it('unfolds continuation lines and tolerates odd whitespace and bare LF', () => {
    const m = parseOk(
      [
        'SIP/2.0 180 Ringing',
        'Via:   SIP / 2.0 / UDP 10.0.0.1 : 5060 ; branch = z9hG4bKx ; rport',
        'From:<sip:a@b> ; tag = 1',
        'To: <sip:c@d>',
        '  ;tag=2',
        'Call-ID:x',
        'CSeq:   1    INVITE',
        'Subject: a long',
        '\tsubject',
        '',
        '',
      ].join('\n'),
    );
    expect(m.core.via).toMatchObject({ host: '10.0.0.1', port: 5060, branch: 'z9hG4bKx' });
    expect(m.core.from.tag).toBe('1');
    expect(m.core.to.tag).toBe('2');
    expect(getHeader(m, 'subject')).toBe('a long subject');
  });

  it('takes the body by Content-Length, or to the end of the datagram without one', () => {
    const withExtra = INVITE + 'trailing junk';
    expect(parseOk(withExtra).body).toBe(SDP);
    const noLength = INVITE.replace(/Content-Length: \d+\r\n/, '');
    expect(parseOk(noLength).body).toBe(SDP);
  });

  it('serializes with a correct Content-Length and parses back', () => {
    const m = parseOk(INVITE);
    const again = parseOk(serialize(m));
    expect(again.body).toBe(m.body);
    expect(getHeader(again, 'content-length')).toBe(String(Buffer.byteLength(SDP)));
    expect(serialize(m)).toContain('Call-ID: a84b4c76e66710\r\n');
    expect(serialize(m)).toContain('CSeq: 314159 INVITE\r\n');
  });

  describe('hostile input: an error value, never an exception', () => {
    it('every truncation of a message', () => {
      const full = Buffer.from(INVITE);
      for (let n = 0; n < full.length; n++) {
        const r = parseMessage(full.subarray(0, n));
        expect(r.ok).toBe(false);
      }
      expect(parseMessage(full).ok).toBe(true);
    });

    it('oversized datagrams', () => {
      expect(parseErr(INVITE + 'x'.repeat(LIMITS.maxMessageBytes))).toBe('too_large');
    });

    it('binary garbage', () => {
      for (let i = 0; i < 2000; i++) expect(parseMessage(randomBytes(1 + (i % 1500))).ok).toBe(false);
      expect(parseErr(Buffer.from([0, 0, 0, 0, 13, 10, 13, 10]))).toBe('bad_start_line');
      expect(parseErr('\r\n\r\n')).toBe('empty'); // RFC 5626 keep-alive
    });

    it('garbage after a valid start line', () => {
      for (let i = 0; i < 500; i++) {
        const r = parseMessage(Buffer.concat([Buffer.from('SIP/2.0 200 OK\r\n'), randomBytes(200), Buffer.from('\r\n\r\n')]));
        expect(r.ok).toBe(false);
      }
    });

    it.each(['Via', 'From', 'To', 'Call-ID', 'CSeq'])('missing %s', (name) => {
      const without = INVITE.split('\r\n').filter((l) => !l.startsWith(`${name}:`)).join('\r\n');
      expect(parseErr(without)).toBe('missing_header');
    });

    it.each([
      ['not a number', 'abc', 'bad_content_length'],
      ['negative', '-1', 'bad_content_length'],
      ['huge', '99999999999', 'bad_content_length'],
      ['larger than the body', '5000', 'truncated_body'],
    ])('bad Content-Length: %s', (_name, value, code) => {
      expect(parseErr(INVITE.replace(/Content-Length: \d+/, `Content-Length: ${value}`))).toBe(code);
    });

    it('conflicting Content-Length headers', () => {
      expect(parseErr(INVITE.replace('Content-Type', 'Content-Length: 3\r\nContent-Type'))).toBe('bad_content_length');
    });

    it('bad start lines, versions, header names and values', () => {
      expect(parseErr(INVITE.replace('SIP/2.0\r\n', 'SIP/3.0\r\n'))).toBe('bad_start_line');
      expect(parseErr(INVITE.replace('INVITE sip:', 'INVITE  sip:'))).toBe('bad_start_line');
      expect(parseErr(INVITE.replace(/^INVITE/, 'IN VITE'))).toBe('bad_start_line');
      expect(parseErr(crlf(['SIP/2.0 999 Nope', 'Via: SIP/2.0/UDP h', '', '']))).toBe('bad_start_line');
      expect(parseErr(INVITE.replace('Max-Forwards: 70', 'Max Forwards: 70'))).toBe('bad_header');
      expect(parseErr(INVITE.replace('Max-Forwards: 70', 'no colon here'))).toBe('bad_header');
      expect(parseErr(INVITE.replace('Max-Forwards: 70', 'X-Bad: a\u0000b'))).toBe('bad_header');
      expect(parseErr(INVITE.replace('CSeq: 314159 INVITE', 'CSeq: 314159 BYE'))).toBe('missing_header');
      expect(parseErr(INVITE.replace('CSeq: 314159 INVITE', 'CSeq: 99999999999 INVITE'))).toBe('missing_header');
      expect(parseErr(INVITE.replace('Via: SIP/2.0/UDP 192.0.2.1:5060', 'Via: SIP/2.0/UDP 192.0.2.1:99999'))).toBe('missing_header');
      expect(parseErr(INVITE.replace('From: "Callpay" <sip', 'From: "Callpay <sip'))).toBe('missing_header');
    });

    it('too many headers, and a header line that is too long', () => {
      const many = INVITE.replace('Max-Forwards: 70', Array.from({ length: LIMITS.maxHeaders + 5 }, (_, i) => `X-H${i}: v`).join('\r\n'));
      expect(parseErr(many)).toBe('too_many_headers');
      const listBomb = INVITE.replace('Max-Forwards: 70', `Route: ${Array.from({ length: 500 }, () => '<sip:a;lr>').join(',')}`);
      expect(parseErr(listBomb)).toBe('too_many_headers');
      expect(parseErr(INVITE.replace('Max-Forwards: 70', `X-Long: ${'a'.repeat(LIMITS.maxLineBytes + 1)}`))).toBe('line_too_long');
    });
  });
});

describe('SIP header values', () => {
  it('URIs, with IPv6, ports and parameters', () => {
    expect(parseUri('sip:+886912345678@trunk.example;user=phone')).toMatchObject({ scheme: 'sip', user: '+886912345678', host: 'trunk.example', port: null });
    expect(parseUri('sip:[2001:db8::1]:5070;transport=udp')).toMatchObject({ host: '[2001:db8::1]', port: 5070 });
    expect(parseUri('sip:p1.example;lr')?.params.has('lr')).toBe(true);
    expect(parseUri('tel:+886912345678')).toBeNull();
    expect(parseUri('sip:host:70000')).toBeNull();
  });

  it('name-addr in every form', () => {
    expect(parseNameAddr('Bob <sip:bob@b>;tag=9')).toMatchObject({ displayName: 'Bob', uri: 'sip:bob@b', tag: '9' });
    expect(parseNameAddr('"A \\"q\\"" <sip:a@b>')).toMatchObject({ displayName: 'A "q"' });
    expect(parseNameAddr('sip:a@b;tag=3')).toMatchObject({ uri: 'sip:a@b', tag: '3' });
    expect(parseNameAddr('<sip:a@b')).toBeNull();
    expect(parseNameAddr('')).toBeNull();
  });

  it('Via with received and rport', () => {
    expect(parseVia('SIP/2.0/UDP 10.0.0.1:5060;rport=40000;received=198.51.100.7;branch=z9hG4bKq')).toMatchObject({
      transport: 'UDP',
      port: 5060,
      branch: 'z9hG4bKq',
    });
    expect(parseVia('SIP/2.0/UDP 10.0.0.1;rport')?.params.get('rport')).toBeNull();
    expect(parseVia('HTTP/1.1 x')).toBeNull();
  });

  it('masks the number in a request URI', () => {
    expect(maskUri('sip:+886912345678@trunk.example;user=phone')).toBe('sip:***@trunk.example;user=phone');
    expect(maskUri('tel:+886912345678')).toBe('tel:***');
    expect(maskUri('sip:trunk.example:5060;phone=+886912345678')).toBe('sip:trunk.example:5060;phone=***');
  });
});

describe('digest authentication', () => {
  it('matches the RFC 2617 §3.5 example', () => {
    const challenge = parseChallenge(
      'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    );
    expect(challenge).not.toBeNull();
    if (!challenge) return;
    const input = { challenge, credentials: { username: 'Mufasa', password: 'Circle Of Life' }, method: 'GET', uri: '/dir/index.html', nc: 1, cnonce: '0a4f113b' };
    expect(digestResponse(input)).toBe('6629fae49393a05397450978507c4ef1');
    const header = authorizationHeader(input);
    expect(header).toMatch(/^Digest /);
    expect(header).toContain('response="6629fae49393a05397450978507c4ef1"');
    expect(header).toContain('nc=00000001');
    expect(header).toContain('qop=auth');
    expect(header).toContain('opaque="5ccc069c403ebaf9f0171e9517f40e41"');
    expect(header).not.toContain('Circle');
  });

  it('matches the RFC 7616 §3.9.1 examples (SHA-256 and MD5)', () => {
    const raw =
      'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
    const challenge = parseChallenge(raw);
    if (!challenge) throw new Error('challenge not parsed');
    const input = { credentials: { username: 'Mufasa', password: 'Circle of Life' }, method: 'GET', uri: '/dir/index.html', nc: 1, cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ' };
    expect(digestResponse({ ...input, challenge })).toBe('753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
    expect(digestResponse({ ...input, challenge: { ...challenge, algorithm: 'MD5' } })).toBe('8ca523f5e9506fed4657c9700eebdbec');
  });

  it('refuses challenges it cannot answer', () => {
    expect(parseChallenge('Basic realm="x"')).toBeNull();
    expect(parseChallenge('Digest realm="x", nonce="n", algorithm=SHA-512-256')).toBeNull();
    expect(parseChallenge('Digest realm="x", nonce="n", qop="auth-int"')).toBeNull();
    expect(parseChallenge('Digest realm="x", nonce="unterminated')).toBeNull();
    expect(parseChallenge('Digest realm="x"')).toBeNull();
    expect(parseChallenge('Digest realm="x", nonce="n", stale=TRUE')?.stale).toBe(true);
  });
});

describe('SDP', () => {
  it('builds the offer issue 4 asks for', () => {
    const offer = buildOffer({ host: '192.0.2.1', port: 40000, telephoneEventPt: 101, sessionId: 42 });
    for (const line of ['c=IN IP4 192.0.2.1', 'm=audio 40000 RTP/AVP 0 8 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:20', 'a=sendrecv']) {
      expect(offer.split('\r\n')).toContain(line);
    }
  });

  it('reads the first G.711 codec, the event payload type and the address from an answer', () => {
    const answer = crlf(['v=0', 'o=- 1 1 IN IP4 198.51.100.9', 's=-', 'c=IN IP4 198.51.100.9', 't=0 0', 'm=audio 30000 RTP/AVP 8 0 96', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:96 telephone-event/8000', '']);
    expect(parseAnswer(answer)).toEqual({ ok: true, codec: 'PCMA', payloadType: 8, telephoneEventPt: 96, remoteHost: '198.51.100.9', remotePort: 30000, send: true });
    // An answer that only sends (or is inactive) must not be sent to (RFC 3264 §6.1).
    expect(parseAnswer(answer + 'a=sendonly\r\n')).toMatchObject({ ok: true, send: false });
    expect(parseAnswer(answer + 'a=inactive\r\n')).toMatchObject({ ok: true, send: false });
    expect(parseAnswer(answer + 'a=recvonly\r\n')).toMatchObject({ ok: true, send: true });
    expect(parseAnswer(SDP)).toMatchObject({ ok: true, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101, remotePort: 40000 });
  });

  it('prefers the media-level address and rejects unusable answers', () => {
    const media = crlf(['v=0', 's=-', 'c=IN IP4 198.51.100.1', 't=0 0', 'm=audio 30000 RTP/AVP 0', 'c=IN IP4 198.51.100.2', '']);
    expect(parseAnswer(media)).toMatchObject({ ok: true, remoteHost: '198.51.100.2', telephoneEventPt: null });
    expect(parseAnswer(SDP.replace('RTP/AVP 0 101', 'RTP/AVP 18 101'))).toEqual({ ok: false, reason: 'SDP answer without a usable codec' });
    expect(parseAnswer(SDP.replace('m=audio 40000', 'm=audio 0'))).toMatchObject({ ok: false });
    expect(parseAnswer(SDP.replace('c=IN IP4 192.0.2.10', 'c=IN IP4 0.0.0.0'))).toMatchObject({ ok: false });
    expect(parseAnswer('')).toMatchObject({ ok: false });
    expect(parseAnswer(randomBytes(300).toString('latin1'))).toMatchObject({ ok: false });
  });

  it('never throws on mangled answers', () => {
    const pieces = ['m=audio', 'c=IN IP4', 'a=rtpmap:', 'RTP/AVP', ' 0', ' 8', ' 101', ' 99999999', ' -1', ' x', '/8000', ' PCMU', ' telephone-event', '\r\n', ' ::', ' 1.2.3.4'];
    for (let i = 0; i < 2000; i++) {
      const sdp = 'v=0\r\n' + Array.from({ length: 12 }, () => pieces[Math.floor(Math.random() * pieces.length)]).join('');
      const r = parseAnswer(sdp);
      expect(typeof r.ok).toBe('boolean');
    }
  });
});

describe('DTMF in SIP INFO', () => {
  it.each([
    ['application/dtmf-relay', 'Signal=5\r\nDuration=160\r\n', '5', 160],
    ['application/dtmf-relay', 'signal= #\nduration=100', '#', 100],
    ['Application/DTMF-Relay; charset=x', 'Signal=10\r\n', '*', null],
    ['application/dtmf-relay', 'Signal=11', '#', null],
    ['application/dtmf', '7', '7', null],
    ['application/dtmf', 'a\r\n', 'A', null],
  ])('%s %j → %s', (type, body, digit, duration) => {
    expect(parseInfoDtmf(type, body)).toEqual({ ok: true, digit, durationMs: duration });
  });

  it.each([
    ['application/dtmf-relay', 'Signal=E'],
    ['application/dtmf-relay', 'Signal=16'],
    ['application/dtmf-relay', 'Duration=100'],
    ['application/dtmf', '55'],
    ['text/plain', '5'],
    [undefined, '5'],
  ])('ignores %s %j', (type, body) => {
    expect(parseInfoDtmf(type, body).ok).toBe(false);
  });
});

describe('final responses as outcomes', () => {
  it.each([
    [486, 'busy'],
    [600, 'busy'],
    [603, 'rejected'],
    [408, 'no_answer'],
    [480, 'no_answer'],
    [487, 'no_answer'],
    [404, 'failed'],
    [503, 'failed'],
    [302, 'failed'],
  ])('%i → %s', (status, outcome) => {
    expect(outcomeForStatus(status)).toBe(outcome);
  });
});
