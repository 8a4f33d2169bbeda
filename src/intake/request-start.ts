import type { ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';

/**
 * What every answer of the public listener starts with, on either path (express or intake/lean.ts):
 * a Request-Id, no caching, and the debug-level access line (below debug: no timer, no listener).
 */
export function startRequest(log: Logger, res: ServerResponse, method: string | undefined, path: () => string): void {
  const requestId = randomUUID();
  res.setHeader('Request-Id', requestId);
  res.setHeader('Cache-Control', 'no-store');
  if (!log.isLevelEnabled('debug')) return;
  const started = process.hrtime.bigint();
  res.on('finish', () => {
    log.debug({ requestId, method, path: path(), status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'request');
  });
}
