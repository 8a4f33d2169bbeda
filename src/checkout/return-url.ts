import { createHmac, timingSafeEqual } from 'node:crypto';

/** hex HMAC-SHA256, keyed with the merchant's webhook secret, of "<t>.<payment_id>.<status>". */
export function returnSignature(secret: string, t: number | string, paymentId: string, status: string): string {
  return createHmac('sha256', secret).update(`${t}.${paymentId}.${status}`).digest('hex');
}

/**
 * The merchant's return URL with the signed result added (`payment_id`, `status`, `t`,
 * `signature`); the merchant's own query parameters stay. Without a secret, no signature.
 */
export function signedReturnUrl(returnUrl: string, secret: string | undefined, paymentId: string, status: string, t: number): URL {
  const url = new URL(returnUrl);
  url.searchParams.set('payment_id', paymentId);
  url.searchParams.set('status', status);
  url.searchParams.set('t', String(t));
  if (secret) url.searchParams.set('signature', returnSignature(secret, t, paymentId, status));
  else url.searchParams.delete('signature');
  return url;
}

/** The merchant's check (the README shows the same code): any of `secrets`, within the time window. */
export function verifyReturn(
  params: URLSearchParams,
  secrets: string[],
  opts: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  const { toleranceSeconds = 600, now = Date.now() / 1000 } = opts;
  const t = params.get('t') ?? '';
  const signature = params.get('signature') ?? '';
  const paymentId = params.get('payment_id') ?? '';
  const status = params.get('status') ?? '';
  if (!/^\d{1,12}$/.test(t) || Math.abs(now - Number(t)) > toleranceSeconds || !/^[0-9a-f]{64}$/.test(signature)) return false;
  return secrets.some((secret) => timingSafeEqual(Buffer.from(signature, 'hex'), Buffer.from(returnSignature(secret, t, paymentId, status), 'hex')));
}
