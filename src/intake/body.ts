import type { RequestHandler } from 'express';
import { CallpayError } from '../domain/errors.js';

/**
 * A request with a body must say it is JSON. An empty body (no Content-Length or 0) is allowed
 * where the route accepts none, e.g. cancel.
 */
export const requireJsonBody: RequestHandler = (req, _res, next) => {
  const hasBody = req.get('transfer-encoding') !== undefined || Number(req.get('content-length') ?? '0') > 0;
  if (hasBody && !req.is('application/json')) {
    throw new CallpayError('unsupported_media_type', 'content-type: expected application/json', 'content-type');
  }
  next();
};
