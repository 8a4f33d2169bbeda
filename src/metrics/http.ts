import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Metrics } from './registry.js';

/** What express leaves on a request it routed. */
interface Routed {
  baseUrl?: string;
  originalUrl?: string;
  route?: { path?: unknown };
}

/**
 * The route as declared, with the mount prefix of its router. Express resets `baseUrl` once an error
 * leaves the router (a 404 thrown in "/payments/:id" of the router at "/v1"), so the prefix is taken
 * from the request's own path: the segments before those the route pattern matched.
 */
function routeLabel(req: Routed, route: string): string {
  const path = (req.originalUrl ?? '').split('?', 1)[0] ?? '';
  const segments = path.split('/').filter(Boolean);
  const routeSegments = route.split('/').filter(Boolean);
  if (/[*(]/.test(route) || routeSegments.length > segments.length) return `${req.baseUrl ?? ''}${route}`;
  const prefix = segments.slice(0, segments.length - routeSegments.length);
  // Only literal prefixes: a mount path is never an id.
  if (prefix.some((p) => !/^[a-z][a-z0-9-]{0,30}$/.test(p))) return `${req.baseUrl ?? ''}${route}`;
  return `${prefix.length > 0 ? `/${prefix.join('/')}` : ''}${route}`;
}

/**
 * Requests on the public listener, labelled by the route that matched as declared
 * ("/v1/payments/:id"), never by the URL as sent: an id or a scanner's junk path stays out of the
 * labels. Unmatched requests share one label.
 */
export function observeHttp(server: Server, m: Metrics): void {
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      const routed = req as IncomingMessage & Routed;
      const path = typeof routed.route?.path === 'string' ? routeLabel(routed, routed.route.path) : 'unmatched';
      const method = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'].includes(req.method ?? '') ? (req.method as string) : 'other';
      m.httpRequests.inc({ route: path, method, status: String(res.statusCode) });
      m.httpDuration.observe({ route: path, method }, Number(process.hrtime.bigint() - start) / 1e9);
    });
  });
}
