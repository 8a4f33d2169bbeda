import type { Request, RequestHandler } from 'express';
import { CallpayError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import type { Merchant } from '../domain/merchant.js';
import type { MerchantRepository } from '../payments/repositories.js';

/** Merchant of an authenticated request; set by `authenticate`. */
export function merchantOf(req: Request): Merchant {
  const merchant = (req as Request & { merchant?: Merchant }).merchant;
  if (!merchant) throw new CallpayError('unauthorized', 'authorization: not authenticated', 'authorization');
  return merchant;
}

/** The active merchant whose API key the Authorization header carries, or throws unauthorized / merchant_disabled. */
export async function merchantForAuthorization(header: string | undefined, merchants: MerchantRepository): Promise<Merchant> {
  const match = /^Bearer ([A-Za-z0-9_-]{10,200})$/.exec(header ?? '');
  if (!match?.[1]) throw new CallpayError('unauthorized', 'authorization: expected "Bearer <api key>"', 'authorization');
  const merchant = await merchants.findByApiKey(match[1]);
  if (!merchant) throw new CallpayError('unauthorized', 'authorization: unknown or revoked API key', 'authorization');
  if (merchant.status !== 'active') throw new CallpayError('merchant_disabled', 'merchant: disabled by the operator', 'merchant');
  return merchant;
}

export function authenticate(merchants: MerchantRepository): RequestHandler {
  return async (req, _res, next) => {
    (req as Request & { merchant?: Merchant }).merchant = await merchantForAuthorization(req.get('authorization'), merchants);
    next();
  };
}

/**
 * A token bucket per merchant: `burst` requests at once, refilled at `perSecond`. In memory: one
 * daemon owns the intake, and a restart forgiving a burst is harmless. One limiter serves every path
 * into the API (the express routes and the lean create path), so neither is a way around the other.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly opts: { perSecond: number; burst: number; clock: Clock }) {}

  /** Takes a token for the merchant, or throws rate_limited carrying the seconds to wait (Retry-After). */
  take(merchantId: string): void {
    const { perSecond, burst } = this.opts;
    const now = this.opts.clock().getTime();
    const bucket = this.buckets.get(merchantId) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    this.buckets.set(merchantId, bucket);
    if (bucket.tokens < 1) throw new RateLimited(Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond)));
    bucket.tokens -= 1;
  }
}

/** rate_limited, with the Retry-After the response must carry. */
export class RateLimited extends CallpayError {
  constructor(readonly retryAfterSeconds: number) {
    super('rate_limited', 'rate limit: too many requests for this merchant; retry later', 'authorization');
  }
}

/** The limiter as express middleware; its refusal's Retry-After is set by the error mapper (errors.ts). */
export function rateLimit(limiter: RateLimiter): RequestHandler {
  return (req, _res, next) => {
    limiter.take(merchantOf(req).id);
    next();
  };
}
