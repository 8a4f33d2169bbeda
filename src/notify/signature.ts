import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * `Callpay-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, one v1 per active secret, newest first.
 * The timestamp is inside the signed text, so a captured request cannot be replayed later with a
 * fresh `t`; several v1 entries let a merchant verify with either secret during a rotation.
 */
export function signatureHeader(secrets: string[], rawBody: string, t: number): string {
  return [`t=${t}`, ...secrets.map((s) => `v1=${hmacHex(s, t, rawBody)}`)].join(',');
}

function hmacHex(secret: string, t: number | string, rawBody: string): string {
  return createHmac('sha256', secret).update(`${t}.${rawBody}`).digest('hex');
}

/**
 * The check a merchant runs (the README shows the same code). `rawBody` must be the exact bytes
 * received, before any JSON parsing. `now` is in unix seconds.
 */
export function verifySignature(
  header: string,
  rawBody: string,
  secret: string,
  opts: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  const { toleranceSeconds = 300, now = Date.now() / 1000 } = opts;
  const parts = header.split(',').map((p) => p.trim().split('='));
  const t = parts.find(([k]) => k === 't')?.[1] ?? '';
  if (!/^\d{1,12}$/.test(t) || Math.abs(now - Number(t)) > toleranceSeconds) return false;
  const expected = Buffer.from(hmacHex(secret, t, rawBody), 'hex');
  return parts.some(([k, v]) => {
    if (k !== 'v1' || v === undefined || !/^[0-9a-f]{64}$/.test(v)) return false;
    return timingSafeEqual(Buffer.from(v, 'hex'), expected);
  });
}
