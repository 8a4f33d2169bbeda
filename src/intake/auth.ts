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

export function authenticate(merchants: MerchantRepository): RequestHandler {
  return async (req, _res, next) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer ([A-Za-z0-9_-]{10,200})$/.exec(header);
    if (!match?.[1]) throw new CallpayError('unauthorized', 'authorization: expected "Bearer <api key>"', 'authorization');
    const merchant = await merchants.findByApiKey(match[1]);
    if (!merchant) throw new CallpayError('unauthorized', 'authorization: unknown or revoked API key', 'authorization');
    if (merchant.status !== 'active') throw new CallpayError('merchant_disabled', 'merchant: disabled by the operator', 'merchant');
    (req as Request & { merchant?: Merchant }).merchant = merchant;
    next();
  };
}

/**
 * A token bucket per merchant: `burst` requests at once, refilled at `perSecond`. In memory: one
 * daemon owns the intake, and a restart forgiving a burst is harmless.
 */
export function rateLimit(opts: { perSecond: number; burst: number; clock: Clock }): RequestHandler {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return (req, res, next) => {
    const id = merchantOf(req).id;
    const now = opts.clock().getTime();
    const bucket = buckets.get(id) ?? { tokens: opts.burst, at: now };
    bucket.tokens = Math.min(opts.burst, bucket.tokens + ((now - bucket.at) / 1000) * opts.perSecond);
    bucket.at = now;
    buckets.set(id, bucket);
    if (bucket.tokens < 1) {
      res.setHeader('Retry-After', String(Math.max(1, Math.ceil((1 - bucket.tokens) / opts.perSecond))));
      throw new CallpayError('rate_limited', 'rate limit: too many requests for this merchant; retry later', 'authorization');
    }
    bucket.tokens -= 1;
    next();
  };
}
