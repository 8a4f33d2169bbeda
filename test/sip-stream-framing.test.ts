import { connect, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../src/log.js';
import { createSipUserAgent, type SipUserAgent } from '../src/telephony/sip/index.js';
import { parseMessage } from '../src/telephony/sip/message.js';
import { STREAM_LIMITS, StreamFramer, type Frame } from '../src/telephony/sip/stream-framing.js';
import { crlf } from './helpers/fake-phone.js';
import { waitFor } from './helpers/wait.js';

const options = (callId: string, body = '') =>
  crlf([
    'OPTIONS sip:callpay@127.0.0.1 SIP/2.0',
    'Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKframing1',
    'Max-Forwards: 70',
    'From: <sip:probe@127.0.0.1>;tag=p1',
    'To: <sip:callpay@127.0.0.1>',
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ]);

const messages = (frames: Frame[]) => frames.filter((f): f is Extract<Frame, { kind: 'message' }> => f.kind === 'message').map((f) => f.data.toString());

describe('stream framing (RFC 3261 §18.3): Content-Length cuts the stream', () => {
  it('a message split into single bytes comes out whole, once', () => {
    const text = options('split', 'v=0\r\n');
    const framer = new StreamFramer();
    const out: Frame[] = [];
    for (const byte of Buffer.from(text)) out.push(...framer.push(Buffer.from([byte])));
    expect(messages(out)).toEqual([text]);
    expect(framer.pending).toBe(0);
  });

  it('two messages in one chunk, and a third cut in the middle of its body', () => {
    const [a, b, c] = [options('a', 'x'), options('b'), options('c', 'hello body')];
    const framer = new StreamFramer();
    const joined = Buffer.from(a + b + c);
    const cut = joined.length - 4;
    expect(messages(framer.push(joined.subarray(0, cut)))).toEqual([a, b]);
    expect(messages(framer.push(joined.subarray(cut)))).toEqual([c]);
  });

  it('large messages back to back, in odd-sized slices, come out whole and in order', () => {
    const texts = [options('big1', 'a'.repeat(30_000)), options('small'), options('big2', 'b\r\n\r\n'.repeat(5_000))];
    const joined = Buffer.from(texts.join(''));
    const framer = new StreamFramer();
    const out: Frame[] = [];
    for (let i = 0, size = 1; i < joined.length; i += size, size = (size * 7 + 3) % 1500 + 1) out.push(...framer.push(joined.subarray(i, i + size)));
    expect(messages(out)).toEqual(texts);
    expect(framer.pending).toBe(0);
  });

  it('a body with an empty line inside is not cut there', () => {
    const text = options('body', 'line1\r\n\r\nline3');
    expect(messages(new StreamFramer().push(Buffer.from(text)))).toEqual([text]);
  });

  it('CRLF keep-alives are skipped; a double CRLF is a ping (RFC 5626 §3.5.1)', () => {
    const framer = new StreamFramer();
    const text = options('after-keepalive');
    const out = [...framer.push(Buffer.from('\r\n\r\n')), ...framer.push(Buffer.from('\r\n')), ...framer.push(Buffer.from(text))];
    expect(out.map((f) => f.kind)).toEqual(['ping', 'message']);
    expect(messages(out)).toEqual([text]);
  });

  it('a ping split across chunks is still one ping', () => {
    const framer = new StreamFramer();
    expect(framer.push(Buffer.from('\r\n\r'))).toEqual([]);
    expect(framer.push(Buffer.from('\n'))).toEqual([{ kind: 'ping' }]);
  });

  it.each([
    ['no Content-Length', 'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n', 'missing_content_length'],
    ['a Content-Length that is not a number', 'OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 12abc\r\n\r\n', 'bad_content_length'],
    ['two different Content-Lengths', 'OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nxx', 'bad_content_length'],
    ['an absurd Content-Length', `OPTIONS sip:a@b SIP/2.0\r\nContent-Length: ${STREAM_LIMITS.maxBodyBytes + 1}\r\n\r\n`, 'body_too_large'],
    ['a header block that never ends', 'X'.repeat(STREAM_LIMITS.maxHeaderBytes + 1), 'header_too_large'],
  ])('%s breaks the framing: an error, then nothing more', (_name, text, code) => {
    const framer = new StreamFramer();
    expect(framer.push(Buffer.from(text))).toEqual([{ kind: 'error', code }]);
    expect(framer.push(Buffer.from(options('later')))).toEqual([]);
  });

  it('framed garbage is handed on (the parser drops it) without losing the stream', () => {
    const framer = new StreamFramer();
    const garbage = 'NOT SIP AT ALL\r\nContent-Length: 3\r\n\r\n\u0000\u0001\u0002';
    const good = options('good');
    const out = messages(framer.push(Buffer.from(garbage + good)));
    expect(out).toHaveLength(2);
    expect(parseMessage(out[0]!).ok).toBe(false);
    expect(parseMessage(out[1]!).ok).toBe(true);
  });

  it('random bytes never throw and never hold more than the header limit', () => {
    const framer = new StreamFramer();
    let seed = 7;
    for (let i = 0; i < 200; i++) {
      const chunk = Buffer.from(Array.from({ length: 257 }, () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff));
      framer.push(chunk);
      expect(framer.pending).toBeLessThanOrEqual(STREAM_LIMITS.maxHeaderBytes + 257);
    }
  });
});

describe("the UA's TCP listener", () => {
  let ua: SipUserAgent;
  let log: Logger;
  let logLines: string[];
  const sockets: Socket[] = [];

  beforeEach(async () => {
    logLines = [];
    log = createLogger({ level: 'debug', destination: { write: (s: string) => void logLines.push(s) } });
    ua = await createSipUserAgent({ bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, timers: { t1: 50 }, log });
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await ua.close();
  });

  async function open(): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
    const socket = connect({ host: '127.0.0.1', port: ua.local.port });
    sockets.push(socket);
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    return { socket, received: () => data, closed };
  }

  it('listens on the UDP port number; answers a request sent in pieces over the same connection', async () => {
    const { socket, received } = await open();
    const text = options('pieces');
    for (let i = 0; i < text.length; i += 7) socket.write(text.slice(i, i + 7));
    await waitFor('a 200 OK on the connection', () => received().includes('SIP/2.0 200 OK'));
    const answer = parseMessage(received());
    expect(answer.ok && answer.message.core.callId).toBe('pieces');
  });

  it('answers a double-CRLF ping with a single CRLF, and keeps the connection', async () => {
    const { socket, received } = await open();
    socket.write('\r\n\r\n');
    await waitFor('a CRLF pong', () => received() === '\r\n');
    socket.write(options('after-ping'));
    await waitFor('a 200 OK on the connection', () => received().includes('SIP/2.0 200 OK'));
  });

  it.each([
    ['without Content-Length', 'OPTIONS sip:callpay@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKx\r\nCall-ID: x\r\n\r\n'],
    ['with an absurd Content-Length', 'OPTIONS sip:callpay@127.0.0.1 SIP/2.0\r\nContent-Length: 999999999\r\n\r\n'],
    ['garbage without end', 'A'.repeat(STREAM_LIMITS.maxHeaderBytes + 10)],
  ])('a message %s closes the connection; the UA keeps serving others', async (_name, bad) => {
    const { socket, closed } = await open();
    socket.write(bad);
    await closed;
    expect(logLines.join('')).toContain('SIP stream framing broken');
    const other = await open();
    other.socket.write(options('still-alive'));
    await waitFor('a 200 OK on another connection', () => other.received().includes('SIP/2.0 200 OK'));
  });
});
