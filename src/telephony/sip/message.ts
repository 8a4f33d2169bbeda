import { parseCSeq, parseNameAddr, parseVia, type CSeq, type NameAddr, type Via } from './headers.js';

/**
 * SIP messages (RFC 3261 §7): parsing of untrusted datagrams and serialization of our own.
 * Parsing never throws: malformed input is a `ParseError` value the transport logs and drops.
 */

export interface Header {
  /** Canonical long form, lower case ("call-id", never "i"). */
  name: string;
  value: string;
}

export interface SipRequest {
  type: 'request';
  method: string;
  uri: string;
  headers: Header[];
  body: string;
}

export interface SipResponse {
  type: 'response';
  status: number;
  reason: string;
  headers: Header[];
  body: string;
}

export type SipMessage = SipRequest | SipResponse;

/** The headers every request and response must carry (RFC 3261 §8.1.1), already validated. */
export interface CoreHeaders {
  callId: string;
  cseq: CSeq;
  /** Top Via only: the one that matches transactions. */
  via: Via;
  from: NameAddr;
  to: NameAddr;
}

export type IncomingRequest = SipRequest & { core: CoreHeaders };
export type IncomingResponse = SipResponse & { core: CoreHeaders };
export type IncomingMessage = IncomingRequest | IncomingResponse;

export const LIMITS = {
  /** Largest UDP datagram we accept (and the largest body a Content-Length may announce). */
  maxMessageBytes: 65_535,
  maxHeaders: 128,
  /** One header field after unfolding, or the start line. */
  maxLineBytes: 8_192,
} as const;

export type ParseErrorCode =
  | 'empty'
  | 'too_large'
  | 'no_header_end'
  | 'bad_start_line'
  | 'bad_header'
  | 'too_many_headers'
  | 'line_too_long'
  | 'missing_header'
  | 'bad_content_length'
  | 'truncated_body';

export interface ParseError {
  code: ParseErrorCode;
  /** Names the field at fault; never echoes message content. */
  detail: string;
}

export type ParseResult = { ok: true; message: IncomingMessage } | { ok: false; error: ParseError };

const COMPACT: Record<string, string> = {
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type', f: 'from',
  s: 'subject', k: 'supported', t: 'to', v: 'via', o: 'event', r: 'refer-to', u: 'allow-events',
  x: 'session-expires', b: 'referred-by',
};

/** Headers whose comma-separated values are separate entries (RFC 3261 §7.3.1). */
const LIST_HEADERS = new Set([
  'via', 'route', 'record-route', 'contact', 'allow', 'supported', 'require', 'proxy-require',
  'unsupported', 'accept', 'accept-encoding', 'accept-language', 'content-encoding', 'allow-events',
]);

const DISPLAY: Record<string, string> = {
  'call-id': 'Call-ID', cseq: 'CSeq', 'www-authenticate': 'WWW-Authenticate', 'max-forwards': 'Max-Forwards',
  rack: 'RAck', rseq: 'RSeq', 'min-se': 'Min-SE',
};

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;
const VERSION = 'SIP/2.0';

export function canonicalName(name: string): string {
  const lower = name.toLowerCase();
  return COMPACT[lower] ?? lower;
}

function displayName(name: string): string {
  return DISPLAY[name] ?? name.replace(/(^|-)([a-z])/g, (_m, dash: string, ch: string) => dash + ch.toUpperCase());
}

/** First value of a header, or undefined. */
export function getHeader(msg: SipMessage, name: string): string | undefined {
  const key = canonicalName(name);
  return msg.headers.find((h) => h.name === key)?.value;
}

/** Every value of a header, in order. */
export function getHeaders(msg: SipMessage, name: string): string[] {
  const key = canonicalName(name);
  return msg.headers.filter((h) => h.name === key).map((h) => h.value);
}

/** Splits on commas outside quoted strings and <...> (URIs may contain commas). */
export function splitList(value: string): string[] {
  const parts: string[] = [];
  let depthAngle = false;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === '<') depthAngle = true;
    else if (ch === '>') depthAngle = false;
    else if (ch === ',' && !depthAngle) {
      parts.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(value.slice(start).trim());
  return parts.filter((p) => p.length > 0);
}

function fail(code: ParseErrorCode, detail: string): ParseResult {
  return { ok: false, error: { code, detail } };
}

function findHeaderEnd(buf: Buffer): { headEnd: number; bodyStart: number } | null {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf < 0 && lf < 0) return null;
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return { headEnd: crlf, bodyStart: crlf + 4 };
  return { headEnd: lf, bodyStart: lf + 2 };
}

/** Unfolds continuation lines (RFC 3261 §7.3.1) and checks sizes. */
function headerLines(head: string): { ok: true; lines: string[] } | { ok: false; error: ParseError } {
  const lines: string[] = [];
  for (const raw of head.split(/\r?\n/)) {
    if ((raw.startsWith(' ') || raw.startsWith('\t')) && lines.length > 1) {
      lines[lines.length - 1] += ' ' + raw.trim();
    } else {
      lines.push(raw);
    }
    const last = lines[lines.length - 1] ?? '';
    if (last.length > LIMITS.maxLineBytes) return { ok: false, error: { code: 'line_too_long', detail: `line ${lines.length}` } };
    if (lines.length > LIMITS.maxHeaders + 1) return { ok: false, error: { code: 'too_many_headers', detail: `more than ${LIMITS.maxHeaders}` } };
  }
  return { ok: true, lines };
}

type StartLine = { type: 'request'; method: string; uri: string } | { type: 'response'; status: number; reason: string };

function parseStartLine(line: string): StartLine | null {
  if (line.startsWith(VERSION + ' ')) {
    const m = /^SIP\/2\.0 ([1-6]\d\d)(?: (.*))?$/.exec(line);
    if (!m?.[1]) return null;
    return { type: 'response', status: Number(m[1]), reason: m[2] ?? '' };
  }
  const parts = line.split(' ');
  const [method, uri, version] = parts;
  if (parts.length !== 3 || !method || !uri || version !== VERSION) return null;
  if (!TOKEN.test(method) || !/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(uri)) return null;
  return { type: 'request', method, uri };
}

function parseCore(headers: Header[], start: StartLine): { ok: true; core: CoreHeaders } | { ok: false; error: ParseError } {
  const first = (name: string) => headers.find((h) => h.name === name)?.value;
  const bad = (detail: string) => ({ ok: false as const, error: { code: 'missing_header' as const, detail } });
  const viaValue = first('via');
  const via = viaValue === undefined ? null : parseVia(viaValue);
  if (!via) return bad('Via');
  const fromValue = first('from');
  const from = fromValue === undefined ? null : parseNameAddr(fromValue);
  if (!from) return bad('From');
  const toValue = first('to');
  const to = toValue === undefined ? null : parseNameAddr(toValue);
  if (!to) return bad('To');
  const callId = first('call-id');
  if (!callId || /\s/.test(callId)) return bad('Call-ID');
  const cseqValue = first('cseq');
  const cseq = cseqValue === undefined ? null : parseCSeq(cseqValue);
  if (!cseq) return bad('CSeq');
  if (start.type === 'request' && cseq.method !== start.method) return bad('CSeq method');
  return { ok: true, core: { callId, cseq, via, from, to } };
}

/** Parses one datagram. Never throws. */
export function parseMessage(data: Buffer | string): ParseResult {
  try {
    return parseUnsafe(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  } catch {
    // Defence in depth: the parser is written not to throw, but a datagram must never crash the UA.
    return fail('bad_header', 'unexpected parser failure');
  }
}

function parseUnsafe(buf: Buffer): ParseResult {
  if (buf.length > LIMITS.maxMessageBytes) return fail('too_large', `${buf.length} bytes`);
  if (buf.toString('latin1').trim().length === 0) return fail('empty', 'keep-alive or empty datagram');
  const end = findHeaderEnd(buf);
  if (!end) return fail('no_header_end', 'no empty line after the headers');
  // Leading CRLFs before the start line are allowed (RFC 3261 §7.5).
  const head = buf.subarray(0, end.headEnd).toString('utf8').replace(/^(\r?\n)+/, '');
  const split = headerLines(head);
  if (!split.ok) return { ok: false, error: split.error };
  const [startLine = '', ...rest] = split.lines;
  if (startLine.length > LIMITS.maxLineBytes) return fail('line_too_long', 'start line');
  const start = parseStartLine(startLine);
  if (!start) return fail('bad_start_line', 'start line');

  const headers: Header[] = [];
  for (const line of rest) {
    const colon = line.indexOf(':');
    if (colon <= 0) return fail('bad_header', 'header line without a name');
    const rawName = line.slice(0, colon).trim();
    if (!TOKEN.test(rawName)) return fail('bad_header', 'header name');
    const value = line.slice(colon + 1).trim();
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return fail('bad_header', `control character in ${canonicalName(rawName)}`);
    const name = canonicalName(rawName);
    const values = LIST_HEADERS.has(name) && value !== '*' ? splitList(value) : [value];
    for (const v of values) headers.push({ name, value: v });
    if (headers.length > LIMITS.maxHeaders) return fail('too_many_headers', `more than ${LIMITS.maxHeaders}`);
  }

  const core = parseCore(headers, start);
  if (!core.ok) return { ok: false, error: core.error };

  const available = buf.length - end.bodyStart;
  let bodyLength = available; // UDP without Content-Length: the body runs to the end of the datagram (§18.3).
  const lengths = [...new Set(headers.filter((h) => h.name === 'content-length').map((h) => h.value))];
  if (lengths.length > 1) return fail('bad_content_length', 'conflicting Content-Length');
  if (lengths[0] !== undefined) {
    if (!/^\d{1,6}$/.test(lengths[0])) return fail('bad_content_length', 'Content-Length');
    bodyLength = Number(lengths[0]);
    if (bodyLength > available) return fail('truncated_body', `${available} of ${bodyLength} body bytes`);
  }
  const body = buf.subarray(end.bodyStart, end.bodyStart + bodyLength).toString('utf8');
  const message: IncomingMessage =
    start.type === 'request'
      ? { type: 'request', method: start.method, uri: start.uri, headers, body, core: core.core }
      : { type: 'response', status: start.status, reason: start.reason, headers, body, core: core.core };
  return { ok: true, message };
}

/** Serializes a message; Content-Length is always written last from the actual body. */
export function serialize(msg: SipMessage): string {
  const start = msg.type === 'request' ? `${msg.method} ${msg.uri} ${VERSION}` : `${VERSION} ${msg.status} ${msg.reason}`;
  const lines = [start];
  for (const h of msg.headers) {
    if (h.name === 'content-length') continue;
    lines.push(`${displayName(h.name)}: ${h.value}`);
  }
  lines.push(`Content-Length: ${Buffer.byteLength(msg.body, 'utf8')}`);
  return lines.join('\r\n') + '\r\n\r\n' + msg.body;
}

/** Builds a header list from [name, value] pairs, skipping undefined values. */
export function headerList(pairs: ReadonlyArray<readonly [string, string | undefined]>): Header[] {
  const out: Header[] = [];
  for (const [name, value] of pairs) if (value !== undefined) out.push({ name: canonicalName(name), value });
  return out;
}
