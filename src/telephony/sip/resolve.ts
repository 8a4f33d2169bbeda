import { lookup, Resolver } from 'node:dns/promises';
import type { Logger } from '../../log.js';
import { formatHostPort, type HostPort, type SipTransportName } from './headers.js';
import { defaultPort, type SipTarget } from './target.js';

/**
 * RFC 3263 §4: the ordered list of hops (IP, port, transport) for the trunk's host name. An IP
 * address is used as it is; a name with a port is looked up as A/AAAA; a name without one goes
 * through NAPTR (transport, skipped when the target names it), SRV (port and host, RFC 2782 order)
 * and A/AAAA, down to A/AAAA on the default port when there is no SRV. The caller tries the hops in
 * order and moves on after a timeout, a transport failure or a 503 (§4.3, invite.ts).
 *
 * DNS answers are network input: every lookup has a timeout, records followed are capped, NAPTR
 * records must be terminal ("s"), so nothing here chains or loops, and a malformed answer is the
 * same as no answer.
 */

export interface NaptrAnswer {
  flags: string;
  service: string;
  regexp: string;
  replacement: string;
  order: number;
  preference: number;
}

export interface SrvAnswer {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** The lookups RFC 3263 needs; a failed or empty lookup rejects or returns []. */
export interface SipDns {
  naptr(name: string): Promise<NaptrAnswer[]>;
  srv(name: string): Promise<SrvAnswer[]>;
  addresses(name: string, family: 4 | 6): Promise<string[]>;
}

export interface SipDnsOptions {
  /** "ip" or "ip:port" ("[v6]:port"); empty = the system's resolvers (and its hosts file for A/AAAA). */
  servers: readonly string[];
  /** Bound on one lookup, retries included. */
  timeoutMs: number;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`DNS ${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export function createSipDns(opts: SipDnsOptions): SipDns {
  // c-ares retries once with a doubled timeout: two tries fit in the bound below.
  const resolver = new Resolver({ timeout: Math.max(1, Math.floor(opts.timeoutMs / 3)), tries: 2 });
  if (opts.servers.length > 0) resolver.setServers([...opts.servers]);
  const bounded = <T>(p: Promise<T>, what: string) => withTimeout(p, opts.timeoutMs, what);
  return {
    naptr: (name) => bounded(resolver.resolveNaptr(name), `NAPTR ${name}`),
    srv: (name) => bounded(resolver.resolveSrv(name), `SRV ${name}`),
    addresses: (name, family) => {
      if (opts.servers.length === 0) {
        // Without servers of our own, names resolve as everywhere else on the host (hosts file too).
        return bounded(lookup(name, { all: true, family }).then((all) => all.map((a) => a.address)), `A/AAAA ${name}`);
      }
      return bounded(family === 4 ? resolver.resolve4(name) : resolver.resolve6(name), `${family === 4 ? 'A' : 'AAAA'} ${name}`);
    },
  };
}

export interface ResolveOptions {
  /** Address families the transport can reach, in preference order. Default IPv4 then IPv6. */
  families?: ReadonlyArray<4 | 6>;
  log?: Logger;
  /** [0, 1): the RFC 2782 weighted choice (tests pass their own). */
  random?: () => number;
}

/** Caps on what hostile or broken DNS can make us follow. */
export const LIMITS = { naptr: 16, services: 4, srvPerService: 8, addressesPerName: 8, hops: 16 } as const;

const NAPTR_SERVICES: Record<string, SipTransportName> = { 'SIP+D2U': 'udp', 'SIP+D2T': 'tcp', 'SIPS+D2T': 'tls' };
const SRV_PREFIX: Record<SipTransportName, string> = { udp: '_sip._udp.', tcp: '_sip._tcp.', tls: '_sips._tcp.' };
const DOMAIN = /^(?=.{1,253}$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*$/;

/** A name from a DNS answer, lower case without the trailing dot; null when it is not a host name ("." = none). */
function domainName(name: string): string | null {
  const n = name.replace(/\.$/, '').toLowerCase();
  return DOMAIN.test(n) ? n : null;
}

interface Service {
  transport: SipTransportName;
  srvName: string;
}

/** A name as logged: a template may put the dialled number in the request URI's host too. */
export function maskDigits(name: string): string {
  return name.replace(/\+?\d{6,}/g, '***');
}

export function describeHop(hop: HostPort): string {
  return `${formatHostPort(hop)}/${hop.transport ?? 'udp'}`;
}

function hop(host: string, port: number, transport: SipTransportName, serverName: string | null): HostPort {
  const h: HostPort = { host, port };
  if (transport !== 'udp') h.transport = transport;
  if (serverName !== null) h.serverName = serverName;
  return h;
}

/**
 * RFC 2782: by priority (lowest first), and within one priority a weighted random order (weight 0
 * placed first, so it is chosen only when nothing heavier is left or the draw lands on it).
 */
export function orderSrv(records: readonly SrvAnswer[], random: () => number = Math.random): SrvAnswer[] {
  const byPriority = new Map<number, SrvAnswer[]>();
  for (const r of records) byPriority.set(r.priority, [...(byPriority.get(r.priority) ?? []), r]);
  const ordered: SrvAnswer[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    const left = [...byPriority.get(priority)!].sort((a, b) => (a.weight === 0 ? 0 : 1) - (b.weight === 0 ? 0 : 1));
    while (left.length > 0) {
      const total = left.reduce((sum, r) => sum + r.weight, 0);
      const draw = Math.min(total, Math.floor(random() * (total + 1)));
      let running = 0;
      let chosen = left.length - 1;
      for (let i = 0; i < left.length; i++) {
        running += left[i]!.weight;
        if (running >= draw) {
          chosen = i;
          break;
        }
      }
      ordered.push(...left.splice(chosen, 1));
    }
  }
  return ordered;
}

async function quietly<T>(what: string, p: () => Promise<T[]>, log: Logger | undefined): Promise<T[]> {
  try {
    return await p();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // No such name / no such record is an answer; anything else (timeout, SERVFAIL, garbage) is logged.
    if (code !== 'ENOTFOUND' && code !== 'ENODATA') log?.debug({ lookup: maskDigits(what), code: code ?? maskDigits(String(err)) }, 'DNS lookup failed');
    return [];
  }
}

/** §4.1: the transports the domain's NAPTR records offer, in their order, kept to those we speak. */
async function naptrServices(name: string, secure: boolean, dns: SipDns, log: Logger | undefined): Promise<Service[]> {
  const records = (await quietly(`NAPTR ${name}`, () => dns.naptr(name), log)).slice(0, LIMITS.naptr);
  const usable = records
    .filter((r) => r.flags.toLowerCase() === 's' && r.regexp === '')
    .map((r) => ({ r, transport: NAPTR_SERVICES[r.service.toUpperCase()], srvName: domainName(r.replacement) }))
    .filter((x): x is { r: NaptrAnswer; transport: SipTransportName; srvName: string } => x.transport !== undefined && x.srvName !== null)
    .filter((x) => !secure || x.transport === 'tls') // a sips: target only over TLS (§4.1)
    .sort((a, b) => a.r.order - b.r.order || a.r.preference - b.r.preference);
  const seen = new Set<string>();
  const services: Service[] = [];
  for (const { transport, srvName } of usable) {
    if (seen.has(`${transport}|${srvName}`) || services.length >= LIMITS.services) continue;
    seen.add(`${transport}|${srvName}`);
    services.push({ transport, srvName });
  }
  return services;
}

async function addresses(name: string, dns: SipDns, families: ReadonlyArray<4 | 6>, log: Logger | undefined): Promise<string[]> {
  const lists = await Promise.all(families.map((f) => quietly(`${f === 4 ? 'A' : 'AAAA'} ${name}`, () => dns.addresses(name, f), log)));
  return [...new Set(lists.flat())].slice(0, LIMITS.addressesPerName);
}

/** The ordered, de-duplicated hops for a target; [] when nothing resolves. Never rejects. */
export async function resolveTarget(target: SipTarget, dns: SipDns, opts: ResolveOptions = {}): Promise<HostPort[]> {
  const families = opts.families ?? [4, 6];
  const log = opts.log;
  const fallbackTransport = target.transport ?? (target.secure ? 'tls' : 'udp');
  if (target.numeric) return [hop(target.host, target.port ?? defaultPort(fallbackTransport), fallbackTransport, null)];
  const name = domainName(target.host);
  if (name === null) return [];
  // §4.2: an explicit port means no SRV, just the name's addresses.
  if (target.port !== null) {
    const port = target.port;
    return (await addresses(name, dns, families, log)).map((a) => hop(a, port, fallbackTransport, name)).slice(0, LIMITS.hops);
  }
  let services: Service[];
  if (target.transport) services = [{ transport: target.transport, srvName: SRV_PREFIX[target.transport] + name }];
  else {
    services = await naptrServices(name, target.secure, dns, log);
    // §4.1: no NAPTR: SRV for each transport we speak, "_sip" for sip:, "_sips" for sips:.
    if (services.length === 0) services = (target.secure ? ['tls' as const] : ['udp' as const, 'tcp' as const]).map((t) => ({ transport: t, srvName: SRV_PREFIX[t] + name }));
  }
  const srvs = await Promise.all(services.map((s) => quietly(`SRV ${s.srvName}`, () => dns.srv(s.srvName), log)));
  const planned: Array<{ transport: SipTransportName; host: string; port: number }> = [];
  services.forEach((s, i) => {
    const valid = srvs[i]!.slice(0, LIMITS.srvPerService * 4).filter((r) => Number.isInteger(r.port) && r.port >= 1 && r.port <= 65535);
    for (const r of orderSrv(valid, opts.random).slice(0, LIMITS.srvPerService)) {
      const host = domainName(r.name); // "." = the service is not offered here (RFC 2782)
      if (host !== null) planned.push({ transport: s.transport, host, port: r.port });
    }
  });
  if (planned.length === 0) {
    // §4.2: no SRV: the name's addresses on the transport's default port.
    return (await addresses(name, dns, families, log)).map((a) => hop(a, defaultPort(fallbackTransport), fallbackTransport, name)).slice(0, LIMITS.hops);
  }
  const hostNames = [...new Set(planned.map((p) => p.host))].slice(0, LIMITS.hops);
  const found = new Map(await Promise.all(hostNames.map(async (h) => [h, await addresses(h, dns, families, log)] as const)));
  const hops: HostPort[] = [];
  const seen = new Set<string>();
  for (const p of planned) {
    for (const address of found.get(p.host) ?? []) {
      const h = hop(address, p.port, p.transport, name); // the TLS name to check is the domain asked for (RFC 5922)
      const key = describeHop(h);
      if (seen.has(key) || hops.length >= LIMITS.hops) continue;
      seen.add(key);
      hops.push(h);
    }
  }
  return hops;
}
