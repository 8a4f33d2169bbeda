import type { Logger } from '../log.js';
import { requestUriFor, type EmbeddedEngineOptions } from './embedded.js';
import { createSipUserAgent, formatHostPort } from './sip/index.js';

/**
 * Is the embedded engine's SIP path up? A throw-away user agent on a free port (the daemon may hold
 * the configured one) sends OPTIONS where INVITEs would go. Used by `callpay doctor`.
 */
export async function probeSipPath(sip: EmbeddedEngineOptions['sip'], timeoutMs: number, log: Logger): Promise<{ ok: boolean; detail: string }> {
  let ua;
  try {
    ua = await createSipUserAgent({
      bindHost: sip.bindHost, bindPort: 0, outboundProxy: sip.outboundProxy, log,
      dnsServers: sip.dnsServers ?? [],
      tls: sip.tls ? { ...sip.tls, port: 0 } : null,
    });
  } catch (e) {
    return { ok: false, detail: `cannot open a SIP socket on ${sip.bindHost}: ${(e as Error).message}` };
  }
  try {
    // Only the host part of the request-URI is used: no number leaves in an OPTIONS.
    const r = await ua.options(requestUriFor(sip.requestUri, '+0'), timeoutMs);
    if (r.kind === 'answered') return { ok: true, detail: `OPTIONS to ${formatHostPort(r.hop)} (${r.hop.transport ?? 'udp'}) answered ${r.status} ${r.reason}`.trim() };
    return { ok: false, detail: `SIP path: ${r.reason}` };
  } finally {
    await ua.close();
  }
}
