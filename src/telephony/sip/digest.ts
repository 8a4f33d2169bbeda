import { createHash, randomBytes } from 'node:crypto';

/**
 * HTTP Digest for SIP (RFC 3261 §22.4, RFC 2617, RFC 7616): answers a 401 WWW-Authenticate or a
 * 407 Proxy-Authenticate challenge. MD5 and SHA-256 (and their -sess variants), qop=auth or no qop.
 * The password never leaves this module except folded into the hash.
 */

export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque: string | null;
  algorithm: DigestAlgorithm;
  /** Offered qop values, lower case; empty = RFC 2069 compatibility (no qop). */
  qop: string[];
  stale: boolean;
}

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

export interface DigestCredentials {
  username: string;
  password: string;
}

const ALGORITHMS: Record<string, DigestAlgorithm> = {
  md5: 'MD5', 'md5-sess': 'MD5-sess', 'sha-256': 'SHA-256', 'sha-256-sess': 'SHA-256-sess',
};

/** Splits `k=v, k="v, w"` into a map with lower-case keys; null when malformed. */
function parseAuthParams(s: string): Map<string, string> | null {
  const out = new Map<string, string>();
  let i = 0;
  while (i < s.length) {
    const m = /^[\s,]*([A-Za-z0-9_-]+)\s*=\s*/.exec(s.slice(i));
    if (!m?.[1]) return s.slice(i).trim().replace(/,/g, '') === '' ? out : null;
    i += m[0].length;
    let value = '';
    if (s[i] === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\') i++;
        value += s[i] ?? '';
        i++;
      }
      if (s[i] !== '"') return null;
      i++;
    } else {
      const v = /^[^\s,]*/.exec(s.slice(i))?.[0] ?? '';
      value = v;
      i += v.length;
    }
    out.set(m[1].toLowerCase(), value);
    if (out.size > 32) return null;
  }
  return out;
}

/** Parses one challenge; null if it is not a Digest challenge we can answer. */
export function parseChallenge(headerValue: string): DigestChallenge | null {
  const m = /^\s*Digest\s+(.*)$/is.exec(headerValue);
  if (!m?.[1]) return null;
  const p = parseAuthParams(m[1]);
  const realm = p?.get('realm');
  const nonce = p?.get('nonce');
  if (!p || realm === undefined || !nonce) return null;
  const algorithm = ALGORITHMS[(p.get('algorithm') ?? 'MD5').toLowerCase()];
  if (!algorithm) return null;
  const qop = (p.get('qop') ?? '').split(',').map((q) => q.trim().toLowerCase()).filter((q) => q.length > 0);
  // We do not hash bodies (auth-int); a server offering only auth-int cannot be answered.
  if (qop.length > 0 && !qop.includes('auth')) return null;
  return { realm, nonce, opaque: p.get('opaque') ?? null, algorithm, qop, stale: (p.get('stale') ?? '').toLowerCase() === 'true' };
}

function hash(algorithm: DigestAlgorithm, data: string): string {
  return createHash(algorithm.startsWith('SHA-256') ? 'sha256' : 'md5').update(data, 'utf8').digest('hex');
}

export interface DigestInput {
  challenge: DigestChallenge;
  credentials: DigestCredentials;
  method: string;
  uri: string;
  /** Nonce count, 1 for the first use of a nonce. */
  nc: number;
  cnonce: string;
}

/** The `response` value (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1). */
export function digestResponse(input: DigestInput): string {
  const { challenge: c, credentials, method, uri } = input;
  const h = (s: string) => hash(c.algorithm, s);
  let ha1 = h(`${credentials.username}:${c.realm}:${credentials.password}`);
  if (c.algorithm.endsWith('-sess')) ha1 = h(`${ha1}:${c.nonce}:${input.cnonce}`);
  const ha2 = h(`${method}:${uri}`);
  if (c.qop.length === 0) return h(`${ha1}:${c.nonce}:${ha2}`);
  return h(`${ha1}:${c.nonce}:${formatNc(input.nc)}:${input.cnonce}:auth:${ha2}`);
}

function formatNc(nc: number): string {
  return nc.toString(16).padStart(8, '0');
}

function quote(s: string): string {
  return `"${s.replace(/(["\\])/g, '\\$1')}"`;
}

/** The Authorization / Proxy-Authorization header value. */
export function authorizationHeader(input: DigestInput): string {
  const c = input.challenge;
  const parts = [
    `username=${quote(input.credentials.username)}`,
    `realm=${quote(c.realm)}`,
    `nonce=${quote(c.nonce)}`,
    `uri=${quote(input.uri)}`,
    `response=${quote(digestResponse(input))}`,
    `algorithm=${c.algorithm}`,
  ];
  if (c.qop.length > 0) parts.push(`cnonce=${quote(input.cnonce)}`, `qop=auth`, `nc=${formatNc(input.nc)}`);
  if (c.opaque !== null) parts.push(`opaque=${quote(c.opaque)}`);
  return `Digest ${parts.join(', ')}`;
}

export function newCnonce(): string {
  return randomBytes(8).toString('hex');
}
