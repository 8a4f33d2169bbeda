/**
 * Parsers and formatters for structured header values (RFC 3261 §20, §25.1): Via, name-addr
 * (From/To/Contact/Route), CSeq and SIP URIs. Each parser returns null for input it cannot read.
 */

/** Parameter names in lower case; a flag parameter (";lr", ";rport") has the value null. */
export type Params = Map<string, string | null>;

export interface Via {
  transport: string;
  host: string;
  port: number | null;
  params: Params;
  branch: string | null;
}

export interface NameAddr {
  displayName: string | null;
  uri: string;
  params: Params;
  tag: string | null;
}

export interface CSeq {
  seq: number;
  method: string;
}

export interface SipUri {
  scheme: 'sip' | 'sips';
  user: string | null;
  /** As written; IPv6 keeps its brackets. */
  host: string;
  port: number | null;
  params: Params;
}

/** SIP transports the embedded engine speaks (RFC 3261 §18; TLS per §26.2). */
export type SipTransportName = 'udp' | 'tcp' | 'tls';

/**
 * A network endpoint. `transport` absent = UDP. `serverName` is the name a TLS peer's certificate
 * must match (the configured or resolved domain, RFC 3263 §4.1/RFC 5922), when not the host itself.
 */
export interface HostPort {
  host: string;
  port: number;
  transport?: SipTransportName;
  serverName?: string;
  /**
   * The TCP/TLS connection a message came in on (transports.ts, opaque): a response sent to this
   * HostPort goes back over that connection while it is open (RFC 3261 §18.2.2), else to host:port.
   */
  connection?: string;
}

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;
const HOST = String.raw`(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)`;
const MAX_PARAMS = 32;

function readQuoted(s: string, from: number): { text: string; end: number } | null {
  let text = '';
  for (let i = from + 1; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\') {
      text += s[i + 1] ?? '';
      i++;
    } else if (ch === '"') {
      return { text, end: i + 1 };
    } else {
      text += ch;
    }
  }
  return null;
}

/** Parses ";a=b;c;d=\"x;y\"" (leading ';' optional, whitespace tolerated). */
export function parseParams(input: string): Params | null {
  const params: Params = new Map();
  let s = input.trim();
  while (s.length > 0) {
    if (!s.startsWith(';')) return null;
    s = s.slice(1).trimStart();
    const m = /^([^=;\s]+)\s*(=\s*)?/.exec(s);
    if (!m?.[1] || !TOKEN.test(m[1])) return null;
    const name = m[1].toLowerCase();
    s = s.slice(m[0].length);
    let value: string | null = null;
    if (m[2] !== undefined) {
      if (s.startsWith('"')) {
        const q = readQuoted(s, 0);
        if (!q) return null;
        value = q.text;
        s = s.slice(q.end);
      } else {
        const v = /^[^;\s]*/.exec(s)?.[0] ?? '';
        value = v;
        s = s.slice(v.length);
      }
    }
    s = s.trimStart();
    params.set(name, value);
    if (params.size > MAX_PARAMS) return null;
  }
  return params;
}

export function formatParams(params: Params): string {
  let out = '';
  for (const [k, v] of params) out += v === null ? `;${k}` : `;${k}=${v}`;
  return out;
}

function toPort(text: string | undefined): number | null | undefined {
  if (text === undefined) return null;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

export function parseVia(value: string): Via | null {
  const m = new RegExp(String.raw`^SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+${HOST}(?:\s*:\s*(\d{1,5}))?\s*(;.*)?$`, 'i').exec(value.trim());
  if (!m?.[1] || !m[2]) return null;
  const port = toPort(m[3]);
  const params = parseParams(m[4] ?? '');
  if (port === undefined || !params) return null;
  return { transport: m[1].toUpperCase(), host: m[2], port, params, branch: params.get('branch') ?? null };
}

export function formatVia(via: Omit<Via, 'branch'>): string {
  return `SIP/2.0/${via.transport} ${via.host}${via.port === null ? '' : `:${via.port}`}${formatParams(via.params)}`;
}

export function parseNameAddr(value: string): NameAddr | null {
  let s = value.trim();
  let displayName: string | null = null;
  let uri: string;
  let rest: string;
  if (s.startsWith('"')) {
    const q = readQuoted(s, 0);
    if (!q) return null;
    displayName = q.text;
    s = s.slice(q.end).trimStart();
    if (!s.startsWith('<')) return null;
  }
  const lt = s.indexOf('<');
  if (lt >= 0) {
    const gt = s.indexOf('>', lt);
    if (gt < 0) return null;
    if (displayName === null) {
      const d = s.slice(0, lt).trim();
      if (/[";]/.test(d)) return null;
      displayName = d.length > 0 ? d : null;
    }
    uri = s.slice(lt + 1, gt).trim();
    rest = s.slice(gt + 1);
  } else {
    // addr-spec form: parameters after ';' belong to the header, not the URI (§20.10).
    const semi = s.indexOf(';');
    uri = semi < 0 ? s : s.slice(0, semi).trim();
    rest = semi < 0 ? '' : s.slice(semi);
  }
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>"]+$/.test(uri)) return null;
  const params = parseParams(rest);
  if (!params) return null;
  return { displayName, uri, params, tag: params.get('tag') ?? null };
}

export function formatNameAddr(addr: { displayName?: string | null; uri: string; params?: Params }): string {
  const display = addr.displayName ? `"${addr.displayName.replace(/(["\\])/g, '\\$1')}" ` : '';
  return `${display}<${addr.uri}>${addr.params ? formatParams(addr.params) : ''}`;
}

export function parseCSeq(value: string): CSeq | null {
  const m = /^(\d{1,10})\s+(\S+)$/.exec(value.trim());
  if (!m?.[1] || !m[2] || !TOKEN.test(m[2])) return null;
  const seq = Number(m[1]);
  return seq < 2 ** 31 ? { seq, method: m[2] } : null;
}

export function parseUri(uri: string): SipUri | null {
  const m = new RegExp(String.raw`^(sips?):(?:([^@?]+)@)?${HOST}(?::(\d{1,5}))?((?:;[^?]*)?)(?:\?.*)?$`, 'i').exec(uri.trim());
  if (!m?.[1] || !m[3]) return null;
  const port = toPort(m[4]);
  const params = parseParams(m[5] ?? '');
  if (port === undefined || !params) return null;
  return { scheme: m[1].toLowerCase() as 'sip' | 'sips', user: m[2] ?? null, host: m[3], port, params };
}

/**
 * Where a request to this URI goes (no DNS SRV here: the host is looked up as A/AAAA): `maddr` over the
 * host, `;transport=tcp|tls` or sips: (TLS) over UDP. UDP is left implicit (no `transport` field).
 */
export function uriDestination(uri: SipUri): HostPort {
  const maddr = uri.params.get('maddr');
  const host = (maddr ?? uri.host).replace(/^\[|\]$/g, '');
  const named = (uri.params.get('transport') ?? '').toLowerCase();
  const transport: SipTransportName = uri.scheme === 'sips' || named === 'tls' ? 'tls' : named === 'tcp' ? 'tcp' : 'udp';
  const dest: HostPort = { host, port: uri.port ?? (transport === 'tls' ? 5061 : 5060) };
  if (transport !== 'udp') dest.transport = transport;
  return dest;
}

/**
 * "sip:+886912345678@trunk" → "sip:***@trunk": request-URIs carry the number, logs must not.
 * Long digit runs elsewhere (a template may put the number in a parameter) are masked too.
 */
export function maskUri(uri: string): string {
  return uri
    .replace(/^(sips?:|tel:)[^@]*@/i, '$1***@')
    .replace(/^tel:.*/i, 'tel:***')
    .replace(/\+?\d{6,}/g, '***');
}

/** "host:port" with IPv6 brackets. */
export function formatHostPort(hp: HostPort): string {
  return `${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`;
}
