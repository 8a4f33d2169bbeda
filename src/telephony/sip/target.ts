import { isIP } from 'node:net';
import { parseUri, type HostPort, type SipTransportName, type SipUri } from './headers.js';

/**
 * Where requests go before any DNS lookup (RFC 3263 §4): the configured outbound proxy, or the
 * request-URI's host. A name without a port is resolved by NAPTR/SRV (resolve.ts); an IP address or
 * an explicit port is not (§4.2).
 */
export interface SipTarget {
  /** Without IPv6 brackets. */
  host: string;
  port: number | null;
  /** Explicit `;transport=` (or implied by sips:); null = chosen by RFC 3263 (UDP when not resolved). */
  transport: SipTransportName | null;
  /** sips: — TLS to every hop. */
  secure: boolean;
  /** The host is an IP address literal. */
  numeric: boolean;
}

export const TRANSPORTS: readonly SipTransportName[] = ['udp', 'tcp', 'tls'];

export function defaultPort(transport: SipTransportName): number {
  return transport === 'tls' ? 5061 : 5060;
}

function transportParam(value: string | null | undefined): SipTransportName | null | undefined {
  if (value === undefined) return null;
  const t = (value ?? '').toLowerCase();
  return (TRANSPORTS as readonly string[]).includes(t) ? (t as SipTransportName) : undefined;
}

/**
 * The first hop for a target without DNS SRV (an IP address, an explicit port, or before resolve.ts
 * is asked): the transport named or implied (UDP otherwise) and its default port. A name is kept as
 * the TLS server name.
 */
export function hopFor(target: SipTarget): HostPort {
  const transport = target.transport ?? (target.secure ? 'tls' : 'udp');
  const hop: HostPort = { host: target.host, port: target.port ?? defaultPort(transport) };
  if (transport !== 'udp') hop.transport = transport;
  if (!target.numeric) hop.serverName = target.host;
  return hop;
}

/** The target of a SIP URI: `maddr` wins over the host; sips: means TLS (§26.2.2). Null when it names a transport we do not speak. */
export function targetFromUri(uri: SipUri): SipTarget | null {
  const host = (uri.params.get('maddr') ?? uri.host).replace(/^\[|\]$/g, '');
  const secure = uri.scheme === 'sips';
  let transport = transportParam(uri.params.get('transport'));
  if (transport === undefined) return null;
  if (secure) {
    if (transport === 'udp') return null;
    transport = 'tls';
  }
  return { host, port: uri.port, transport, secure, numeric: isIP(host) !== 0 };
}

/**
 * The configured outbound proxy: "host", "host:port", "[v6]:port", or a URI
 * ("sip:proxy.example.net;transport=tcp", "sips:edge.example.net:5061"). Null when unreadable.
 */
export function parseTarget(value: string): SipTarget | null {
  const text = value.trim();
  if (/^sips?:/i.test(text)) {
    const uri = parseUri(text);
    return uri && uri.user === null ? targetFromUri(uri) : null;
  }
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$|^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(text);
  const host = m?.[1] ?? m?.[3];
  const portText = m?.[2] ?? m?.[4];
  if (!host) return null;
  if (m?.[1] !== undefined && isIP(host) !== 6) return null;
  const port = portText === undefined ? null : Number(portText);
  if (port !== null && (port < 1 || port > 65535)) return null;
  return { host, port, transport: null, secure: false, numeric: isIP(host) !== 0 };
}
