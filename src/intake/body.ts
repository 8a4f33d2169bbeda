import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { CallpayError } from '../domain/errors.js';
import { fieldName } from './schemas.js';

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

/**
 * express.json's `verify` hook, run on the raw body before parsing. JSON between systems is UTF-8
 * (RFC 8259 §8.1), and an object names each key once (I-JSON, RFC 7493 §2.3): JSON.parse would keep
 * the last of two "amount"s where a proxy or the merchant's own log may have read the first, so a
 * repeated key is refused, named by its path. Anything else malformed is left to the parser.
 */
export function refuseDuplicateKeys(_req: IncomingMessage, _res: ServerResponse, body: Buffer, encoding: string): void {
  if (encoding.toLowerCase() !== 'utf-8') {
    throw new CallpayError('unsupported_media_type', 'content-type: JSON must be sent as charset=utf-8', 'content-type');
  }
  refuseDuplicateKeysIn(body.toString('utf8'));
}

/** Throws invalid_field naming the first key repeated within one object of the JSON text. */
export function refuseDuplicateKeysIn(text: string): void {
  const duplicate = firstDuplicateKey(text);
  if (duplicate !== undefined) {
    const field = fieldName(duplicate) || 'body';
    throw new CallpayError('invalid_field', `${field}: duplicate key`, field);
  }
}

interface Frame {
  keys: Set<string> | null; // null: an array
  path: string[];
  keyNext: boolean;
  lastKey: string;
  index: number;
}

/** The path of the first key repeated within one object, or undefined (also for malformed text). */
export function firstDuplicateKey(text: string): string[] | undefined {
  const stack: Frame[] = [];
  const join = (path: string[], part: string) => [...path, part];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    const top = stack.at(-1);
    if (ch === '{' || ch === '[') {
      const path = !top ? [] : top.keys ? join(top.path, top.lastKey) : join(top.path, String(top.index));
      stack.push({ keys: ch === '{' ? new Set() : null, path, keyNext: ch === '{', lastKey: '', index: 0 });
    } else if (ch === '}' || ch === ']') {
      if (!stack.pop()) return undefined;
    } else if (ch === ',') {
      if (!top) return undefined;
      if (top.keys) top.keyNext = true;
      else top.index += 1;
    } else if (ch === '"') {
      const end = stringEnd(text, i);
      if (end < 0) return undefined;
      if (top?.keys && top.keyNext) {
        let key: string;
        try {
          key = JSON.parse(text.slice(i, end + 1)) as string;
        } catch {
          return undefined;
        }
        if (top.keys.has(key)) return join(top.path, key);
        top.keys.add(key);
        top.lastKey = key;
        top.keyNext = false;
      }
      i = end;
    }
  }
  return undefined;
}

/** Index of the quote closing the string that opens at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}
