import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { HostPort } from './headers.js';

/**
 * Where a dialog takes the phone's requests from (issue 10, D2). SIP over UDP has no other proof of
 * origin than the datagram's source, so a request inside a call is obeyed only when it comes from an
 * endpoint the dialog itself sends to: the next hop of its own requests (first route of the route set,
 * else the remote target), the outbound proxy, and the operator's `telephony.sip.trustedSources`
 * (trunks that signal from several addresses). Address and port must both match, the rule the media
 * worker applies to RTP (media/dtmf.ts). Host names are looked up (every A/AAAA record); until a
 * lookup finishes a name matches nothing, and the peer's retransmission (timer E) tries again.
 */

export type Lookup = (host: string) => Promise<string[]>;

const systemLookup: Lookup = async (host) => (await lookup(host, { all: true })).map((a) => a.address);

/** `::ffff:192.0.2.1` (an IPv4 peer seen on a dual-stack socket) is `192.0.2.1`; IPv6 without brackets, lower case. */
export function normalizeAddress(address: string): string {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

const keyOf = (address: string, port: number) => `${normalizeAddress(address)}|${port}`;

/**
 * Over TCP and TLS the source port says nothing: a proxy that opens a new connection to us (a BYE
 * routed to our Contact) does so from an ephemeral port. What matters is the address, and a stream's
 * address is much harder to forge than a datagram's: the TCP handshake needs the peer to receive our
 * SYN-ACK at that address, so a blind attacker cannot open a connection "from" the trunk (over UDP a
 * forged source address and port cost nothing). TLS adds that no one on the path can inject into the
 * connection. So a request that came over a stream is admitted when its address is a trusted
 * endpoint's address, whatever the port. (A connection we opened ourselves comes from the far end's
 * listening port, which matches the endpoint's port anyway.)
 */
const isStream = (source: HostPort) => source.transport === 'tcp' || source.transport === 'tls';

export class TrustedSources {
  private readonly keys = new Set<string>();
  private readonly addresses = new Set<string>();

  constructor(endpoints: readonly HostPort[], resolve: Lookup = systemLookup) {
    for (const { host, port } of endpoints) {
      const bare = host.replace(/^\[|\]$/g, '');
      if (isIP(bare)) {
        this.add(bare, port);
        continue;
      }
      resolve(bare).then(
        (addresses) => addresses.forEach((a) => this.add(a, port)),
        () => {}, // an unresolvable name trusts nobody
      );
    }
  }

  private add(address: string, port: number): void {
    this.keys.add(keyOf(address, port));
    this.addresses.add(normalizeAddress(address));
  }

  allows(source: HostPort): boolean {
    if (isStream(source) && source.connection !== undefined) return this.addresses.has(normalizeAddress(source.host));
    return this.keys.has(keyOf(source.host, source.port));
  }
}
