import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * A tiny authoritative DNS server on UDP 127.0.0.1 for the RFC 3263 tests: answers A, AAAA, SRV,
 * NAPTR and CNAME queries from a table (RFC 1035 §4, no compression), NXDOMAIN for names it does not
 * hold, NOERROR with no answer for a type a name lacks. A name can instead misbehave: never answer,
 * answer with a packet cut short, or SERVFAIL. CNAMEs are chased inside the table (bounded), so a
 * CNAME loop comes back as the loop. The table can be changed while the server runs.
 */

export type DnsRecord =
  | { type: 'A'; address: string; ttl?: number }
  | { type: 'AAAA'; address: string; ttl?: number }
  | { type: 'CNAME'; target: string; ttl?: number }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string; ttl?: number }
  | { type: 'NAPTR'; order: number; preference: number; flags: string; service: string; regexp?: string; replacement: string; ttl?: number };

/**
 * silent: no reply at all; truncated: the reply cut in the middle; servfail: RCODE 2; tc: an empty
 * reply with the TC bit (the resolver retries over TCP, where nobody listens).
 */
export type DnsMisbehaviour = 'silent' | 'truncated' | 'servfail' | 'tc';

/** Names in lower case without the trailing dot. */
export type DnsZone = Record<string, DnsRecord[] | DnsMisbehaviour>;

export interface TestDnsServer {
  /** "127.0.0.1:<port>", for `telephony.sip.dnsServers` / Resolver.setServers. */
  readonly server: string;
  readonly port: number;
  zone: DnsZone;
  /** Every question asked, "TYPE name", in order. */
  readonly queries: string[];
  close(): Promise<void>;
}

const TYPES: Record<DnsRecord['type'], number> = { A: 1, CNAME: 5, AAAA: 28, SRV: 33, NAPTR: 35 };
const TYPE_NAMES = new Map(Object.entries(TYPES).map(([k, v]) => [v, k]));
const MAX_CNAME_CHASE = 8;

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter((l) => l.length > 0);
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
}

function charString(text: string): Buffer {
  return Buffer.concat([Buffer.from([text.length]), Buffer.from(text, 'ascii')]);
}

function u16(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeUInt16BE(v, i * 2));
  return b;
}

function rdata(r: DnsRecord): Buffer {
  switch (r.type) {
    case 'A':
      if (!isIPv4(r.address)) throw new Error(`not IPv4: ${r.address}`);
      return Buffer.from(r.address.split('.').map(Number));
    case 'AAAA': {
      if (!isIPv6(r.address)) throw new Error(`not IPv6: ${r.address}`);
      const [head = '', tail = ''] = r.address.split('::');
      const h = head ? head.split(':') : [];
      const t = tail ? tail.split(':') : [];
      const groups = r.address.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
      return u16(...groups.map((g) => parseInt(g, 16)));
    }
    case 'CNAME':
      return encodeName(r.target);
    case 'SRV':
      return Buffer.concat([u16(r.priority, r.weight, r.port), encodeName(r.target)]);
    case 'NAPTR':
      return Buffer.concat([u16(r.order, r.preference), charString(r.flags), charString(r.service), charString(r.regexp ?? ''), encodeName(r.replacement)]);
  }
}

function resourceRecord(owner: string, r: DnsRecord): Buffer {
  const data = rdata(r);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(TYPES[r.type], 0);
  fixed.writeUInt16BE(1, 2); // IN
  fixed.writeUInt32BE(r.ttl ?? 60, 4);
  fixed.writeUInt16BE(data.length, 8);
  return Buffer.concat([encodeName(owner), fixed, data]);
}

/** The question of a query: its name (lower case), type, and where the question section ends. */
function readQuestion(msg: Buffer): { name: string; type: number; end: number } | null {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return null;
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    const len = msg[at];
    if (len === undefined || len > 63) return null;
    at += 1;
    if (len === 0) break;
    labels.push(msg.subarray(at, at + len).toString('ascii').toLowerCase());
    at += len;
  }
  if (at + 4 > msg.length) return null;
  return { name: labels.join('.'), type: msg.readUInt16BE(at), end: at + 4 };
}

function answer(zone: DnsZone, query: Buffer, q: { name: string; type: number; end: number }): Buffer | null {
  const entry = zone[q.name];
  if (entry === 'silent') return null;
  const flags = 0x8400 | (query.readUInt16BE(2) & 0x0100) | (entry === 'tc' ? 0x0200 : 0); // QR, AA, the query's RD
  const records: Buffer[] = [];
  let rcode = 0;
  if (entry === 'servfail') rcode = 2;
  else if (entry === undefined) rcode = 3; // NXDOMAIN
  else if (entry !== 'tc') {
    let owner = q.name;
    for (let hops = 0; hops < MAX_CNAME_CHASE; hops++) {
      const here = zone[owner];
      if (!Array.isArray(here)) break;
      const cname = here.find((r) => r.type === 'CNAME');
      if (cname && q.type !== TYPES.CNAME) {
        records.push(resourceRecord(owner, cname));
        if (cname.type === 'CNAME') owner = cname.target.toLowerCase().replace(/\.$/, '');
        continue;
      }
      for (const r of here) if (TYPES[r.type] === q.type) records.push(resourceRecord(owner, r));
      break;
    }
  }
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  header.writeUInt16BE(flags | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  const reply = Buffer.concat([header, query.subarray(12, q.end), ...records]);
  return entry === 'truncated' ? reply.subarray(0, Math.max(12, Math.floor(reply.length / 2))) : reply;
}

export async function startDnsServer(zone: DnsZone = {}): Promise<TestDnsServer> {
  const socket: Socket = createSocket('udp4');
  const queries: string[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const port = socket.address().port;
  const server: TestDnsServer = {
    server: `127.0.0.1:${port}`,
    port,
    zone,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (msg: Buffer, from: RemoteInfo) => {
    const q = readQuestion(msg);
    if (!q) return;
    queries.push(`${TYPE_NAMES.get(q.type) ?? q.type} ${q.name}`);
    let reply: Buffer | null;
    try {
      reply = answer(server.zone, msg, q);
    } catch {
      return; // a record the test table got wrong: no answer, the lookup times out and the test says why
    }
    if (reply && reply.length <= 65_000) socket.send(reply, from.port, from.address);
  });
  return server;
}
