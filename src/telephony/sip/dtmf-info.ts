import type { Digit } from '../engine.js';

/**
 * DTMF carried in SIP INFO bodies: `application/dtmf-relay` ("Signal=5\r\nDuration=160") and
 * `application/dtmf` (the body is the key). Anything else is not a digit: better to drop a key than
 * to invent one.
 */

export type InfoDtmf = { ok: true; digit: Digit; durationMs: number | null } | { ok: false; reason: string };

const KEYS = new Set(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D']);
/** Some gateways send the RFC 4733 event code instead of the key for * and #. */
const CODES: Record<string, Digit> = { '10': '*', '11': '#' };

function toDigit(raw: string): Digit | null {
  const s = raw.trim().toUpperCase();
  if (KEYS.has(s)) return s as Digit;
  return CODES[s] ?? null;
}

/** Media type of a Content-Type value, lower case, without parameters. */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

export function parseInfoDtmf(contentType: string | undefined, body: string): InfoDtmf {
  const type = mediaType(contentType);
  if (body.length > 1024) return { ok: false, reason: 'body too large' };
  if (type === 'application/dtmf') {
    const digit = toDigit(body);
    return digit ? { ok: true, digit, durationMs: null } : { ok: false, reason: 'not a DTMF key' };
  }
  if (type !== 'application/dtmf-relay') return { ok: false, reason: 'not a DTMF body' };
  let digit: Digit | null = null;
  let durationMs: number | null = null;
  for (const line of body.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z-]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m?.[1] || m[2] === undefined) continue;
    const key = m[1].toLowerCase();
    if (key === 'signal') digit = toDigit(m[2]);
    else if (key === 'duration' && /^\d{1,6}$/.test(m[2])) durationMs = Number(m[2]);
  }
  return digit ? { ok: true, digit, durationMs } : { ok: false, reason: 'no valid Signal' };
}
