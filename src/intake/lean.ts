import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { CallpayError } from '../domain/errors.js';
import type { MerchantRepository } from '../payments/repositories.js';
import { merchantForAuthorization, type RateLimiter } from './auth.js';
import { refuseDuplicateKeysIn } from './body.js';
import { errorAnswer } from './errors.js';
import { startRequest } from './request-start.js';
import type { CreatePaymentRequest } from './routes/payments.js';

/** The JSON body limit of the whole API (express.json's '16kb'). */
export const BODY_LIMIT_BYTES = 16 * 1024;

/** application/json, in UTF-8 said or implied: the only bodies the lean path reads itself. */
const PLAIN_JSON = /^application\/json\s*(?:;\s*charset\s*=\s*(?:utf-8|"utf-8")\s*)?$/i;

/** JSON text whose first non-blank character opens an object or array (body-parser's `strict`). */
const STRICT_START = /^[\x20\x09\x0a\x0d]*[{[]/;

export interface LeanDeps {
  log: Logger;
  merchants: MerchantRepository;
  limiter: RateLimiter;
  create: CreatePaymentRequest;
}

/** What the metrics label reads on a routed request (metrics/http.ts), as express leaves it. */
interface Routed {
  route?: { path: string };
}

/**
 * POST /v1/payments without express: the merchant's hot path, taken only by the plain request (JSON
 * in UTF-8, not compressed, with a length or chunked). It does what the express route does, in the
 * same order and with the same answers (authentication, rate limit, body limit, duplicate keys,
 * strict JSON, the same validation and idempotency), by calling the same functions; anything else
 * (another content type or charset, a compressed body, no body at all) goes to express, which stays
 * the reference for every edge. Returns false when the request is not taken.
 */
export function leanCreatePayment(d: LeanDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/payments') return false;
    const h = req.headers;
    if (h['content-encoding'] !== undefined || !PLAIN_JSON.test(h['content-type'] ?? '')) return false;
    if (h['content-length'] === undefined && h['transfer-encoding'] === undefined) return false;
    (req as IncomingMessage & Routed).route = { path: '/v1/payments' };
    startRequest(d.log, res, 'POST', () => '/v1/payments');
    handle(d, req, res).catch((err: unknown) => {
      const answer = errorAnswer(err, d.log, { method: 'POST', path: '/v1/payments' });
      if (answer.retryAfterSeconds !== undefined && !res.headersSent) res.setHeader('Retry-After', String(answer.retryAfterSeconds));
      send(res, answer.status, answer.body);
    });
    return true;
  };
}

async function handle(d: LeanDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const merchant = await merchantForAuthorization(req.headers.authorization, d.merchants);
  d.limiter.take(merchant.id);
  const raw = await readBody(req);
  if (raw === undefined) return; // the client went away
  const text = raw.toString('utf8');
  refuseDuplicateKeysIn(text);
  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // a byte order mark, dropped as body-parser does
  let body: unknown = {};
  if (json.length > 0) {
    if (!STRICT_START.test(json)) throw new CallpayError('malformed_json', 'body: not valid JSON', 'body');
    try {
      body = JSON.parse(json);
    } catch {
      throw new CallpayError('malformed_json', 'body: not valid JSON', 'body');
    }
  }
  const header = req.headers['idempotency-key'];
  const { response, replay } = await d.create(merchant, Array.isArray(header) ? header.join(', ') : header, body);
  if (replay) res.setHeader('Idempotent-Replayed', 'true');
  send(res, response.status, response.body);
}

/** The body, up to the limit (payload_too_large past it); undefined if the request ended early. */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (declared > BODY_LIMIT_BYTES) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= BODY_LIMIT_BYTES) return void chunks.push(chunk);
      req.off('data', onData);
      req.resume(); // the rest is read and dropped, so the connection can carry the next request
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.once('close', () => {
      if (!req.complete) resolve(undefined);
    });
    req.once('error', () => resolve(undefined));
  });
}

function tooLarge(): CallpayError {
  return new CallpayError('payload_too_large', 'body: larger than 16 KiB', 'body');
}

/** A JSON answer with the headers express's res.json gives it. */
function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}
