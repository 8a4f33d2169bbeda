import { isIP } from 'node:net';
import * as z from 'zod';
import { LOCALES } from '../domain/locale.js';
import { isSafeDialTemplate } from '../telephony/freeswitch/originate.js';
import { SELF_SERVICE_ENGINE_ISSUE, selfServiceEngineOk, selfServiceSchema } from './self-service-schema.js';
import { parseTarget } from '../telephony/sip/target.js';
import { RISK_ACTIONS } from '../risk/contract.js';

/**
 * The shape of callpay's configuration. Every object is strict so that a misspelt key is an error
 * rather than a silently ignored setting. Each check's `error` is the "expected ..." half of the
 * message that load.ts reports; load.ts adds the source, the key and the value it got.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** ISO 4217 codes callpay can bill in; extend deliberately (minor-unit exponents live in domain/). */
export const CURRENCIES = ['TWD', 'USD', 'EUR', 'JPY', 'GBP', 'CNY', 'HKD'] as const;

function intIn(min: number, max: number) {
  const error = `an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

function nonEmptyString() {
  const error = 'a non-empty string';
  return z.string({ error }).min(1, { error });
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `one of ${values.join(', ')}` });
}

function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

const DNS_SERVERS = 'a list of DNS server addresses, "ip" or "ip:port" ("[v6]:port")';

/** "192.0.2.53", "192.0.2.53:5353", "2001:db8::53", "[2001:db8::53]:53": what Resolver.setServers takes. */
function isDnsServer(value: string): boolean {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$|^([0-9.]+):(\d{1,5})$/.exec(value);
  if (!m) return isIP(value) !== 0;
  const port = Number(m[2] ?? m[4]);
  return isIP(m[1] ?? m[3] ?? '') === (m[1] ? 6 : 4) && port >= 1 && port <= 65535;
}

const OUTBOUND_PROXY = 'a "host:port", a host name, a SIP URI such as sip:edge.example.net;transport=tcp, or null';

const PROXY_SPEC = 'a list of IP addresses, CIDR ranges (10.0.0.0/8) or loopback, linklocal, uniquelocal';

function isProxySpec(value: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(value)) return true;
  const [address = '', prefix, extra] = value.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function section<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(shape, { error: 'an object' });
}

function amountOrNull() {
  const error = 'an amount in minor units (integer >= 0) or null';
  return z.int({ error }).min(0, { error }).max(1_000_000_000_000, { error }).nullable();
}

/** Carrier ceilings that no consumer policy can loosen; amounts in the currency's minor units. */
const ceilingsSchema = section({
  /** Every payment above this amount needs the call, whatever the consumer chose; null = none. */
  callAlwaysAbove: amountOrNull(),
  /** Largest single payment; null = no limit. */
  maxSinglePayment: amountOrNull(),
  /** Frictionless allowance caps (PSD2-like): total and count of call-less payments since the last call. */
  frictionlessMaxAmount: amountOrNull(),
  frictionlessMaxCount: intIn(0, 1000).nullable(),
});

export const configSchema = section({
  /** SQLite file; made absolute by loadConfig. */
  database: nonEmptyString(),
  /** Master key file (mode 0600); made absolute by loadConfig. */
  keyFile: nonEmptyString(),
  /**
   * During a key rotation, the master keys the database may still hold values under (newest first):
   * read and matched, never written with. Empty otherwise. Made absolute by loadConfig.
   */
  previousKeyFiles: z.array(nonEmptyString(), { error: 'a list of key file paths' }).max(4, { error: 'at most 4 previous keys' }),
  /**
   * Where the data lives. sqlite: the `database` file, one node. postgres: `url` (no password in it:
   * `password`/CALLPAY_STORE_PASSWORD or `passwordFile`), several nodes sharing one database.
   */
  store: section({
    driver: oneOf(['sqlite', 'postgres'] as const),
    url: z
      .string({ error: 'a postgres:// URL or null' })
      .regex(/^postgres(ql)?:\/\/[^\s]+$/, { error: 'a postgres:// URL or null' })
      .refine((u) => !/^postgres(ql)?:\/\/[^/@]*:[^/@]*@/.test(u), { error: 'a URL without a password (set store.password, CALLPAY_STORE_PASSWORD or store.passwordFile)' })
      .nullable(),
    password: z.string({ error: 'a string or null' }).min(1, { error: 'a non-empty string or null' }).max(1024).nullable(),
    passwordFile: z.string({ error: 'a file path or null' }).min(1, { error: 'a file path or null' }).nullable(),
    /** Connections per node. */
    poolMax: intIn(1, 200),
    /** A call belongs to the node that placed it for this long past its last renewal (renewed every third of it). */
    callLeaseSeconds: intIn(3, 600),
  }).refine((s) => s.driver !== 'postgres' || s.url !== null, { error: 'store.driver "postgres" needs store.url', path: ['url'] }),
  log: section({ level: oneOf(LOG_LEVELS) }),
  http: section({
    host: nonEmptyString(),
    port: intIn(0, 65535),
    /** Base of the checkout URLs handed to merchants; may differ from host:port behind a proxy. */
    publicUrl: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }),
    /**
     * Reverse proxies in front of callpay (IPs, CIDR ranges, or loopback/linklocal/uniquelocal):
     * only requests from these have X-Forwarded-For believed for the client's address (the checkout's
     * per-address limits). Empty = the socket's address, whatever the headers say.
     */
    trustedProxies: z.array(z.string().refine(isProxySpec, { error: PROXY_SPEC }), { error: PROXY_SPEC }).max(64, { error: 'at most 64 entries' }),
  }),
  /** The admin listener (Prometheus /metrics): its own address, never the public checkout/API port. */
  admin: section({
    enabled: z.boolean({ error: 'true or false' }),
    host: nonEmptyString(),
    port: intIn(0, 65535),
    /** Label payment metrics with the merchant id (one series per merchant: enable only for a bounded merchant list). */
    merchantLabels: z.boolean({ error: 'true or false' }),
  }),
  currency: oneOf(CURRENCIES),
  locale: oneOf(LOCALES),
  billing: section({
    /** Day of the month a billing cycle closes (31 = the month's last day, i.e. calendar months). */
    closingDay: intIn(1, 31),
    /** IANA time zone in which cycles close. */
    timeZone: z.string({ error: 'an IANA time zone such as Asia/Taipei' }).refine(isTimeZone, { error: 'an IANA time zone such as Asia/Taipei' }),
  }),
  payments: section({
    expiresInSeconds: intIn(60, 86_400),
    /** Poll interval suggested to merchants (CIBA "interval"). */
    pollIntervalSeconds: intIn(1, 60),
    idempotencyRetentionDays: intIn(7, 365),
    /** How often expiry and recovery run. */
    sweepIntervalMs: intIn(100, 60_000),
  }),
  policy: section({
    ceilings: z.partialRecord(oneOf(CURRENCIES), ceilingsSchema, { error: 'an object keyed by currency code' }),
  }),
  rateLimit: section({
    /** Sustained requests per second per merchant, and the burst allowed above it. */
    perSecond: intIn(1, 100_000),
    burst: intIn(1, 100_000),
  }),
  webhooks: section({
    timeoutMs: intIn(100, 60_000),
    /** Deliveries are retried with growing delays for this long (at least 3 days). */
    retryForHours: intIn(72, 720),
    pollIntervalMs: intIn(50, 60_000),
    /** How long the previous secret stays valid after a rotation. */
    rotationOverlapHours: intIn(0, 720),
  }),
  telephony: section({
    /**
     * "embedded" (SIP/RTP in-process) is the default. "simulated" places no call at all: opt-in for
     * trials, and every payment it touches is marked live = false.
     */
    engine: oneOf(['embedded', 'freeswitch', 'simulated'] as const),
    sip: section({
      /** Local address and UDP port of callpay's SIP user agent. */
      bindHost: nonEmptyString(),
      bindPort: intIn(0, 65535),
      /**
       * Where INVITEs go (the trunk, PBX or SBC): "host:port", a host name (RFC 3263 NAPTR/SRV), or a
       * SIP URI naming the transport ("sip:edge.example.net;transport=tcp", "sips:edge.example.net");
       * null = the request-URI's host.
       */
      outboundProxy: z.string({ error: OUTBOUND_PROXY }).refine((v) => parseTarget(v) !== null, { error: OUTBOUND_PROXY }).nullable(),
      /** Request-URI template; {e164} is the enrolled number with "+", {number} without. */
      requestUri: z.string({ error: 'a SIP URI template containing {e164} or {number}' }).regex(/^sips?:.*\{(e164|number)\}/, { error: 'a SIP URI template containing {e164} or {number}' }),
      /** From URI (caller ID) and its display name. */
      from: z.string({ error: 'a SIP URI' }).regex(/^sips?:[^\s<>]+$/, { error: 'a SIP URI' }),
      displayName: z.string().max(64).regex(/^[^"\r\n\\]*$/, { error: 'a display name without quotes or line breaks' }),
      /** Digest credentials for trunks that challenge (401/407); null = none. */
      username: z.string().min(1).max(128).nullable(),
      password: z.string().min(1).max(256).nullable(),
      ringTimeoutMs: intIn(5_000, 180_000),
      /** Session-Expires our INVITEs ask for (RFC 4028); at least 90 s (its Min-SE), at most a day. */
      sessionExpiresSeconds: intIn(90, 86_400),
      /**
       * SO_RCVBUF of the SIP UDP socket: room for a burst of datagrams (setup responses at hundreds of
       * calls per second) while the SIP worker is scheduled out. Linux grants at most net.core.rmem_max.
       */
      receiveBufferBytes: intIn(65_536, 268_435_456),
      /**
       * More "host:port" signalling addresses a call's in-dialog requests (BYE, INFO, re-INVITE...) are
       * taken from, for trunks that send from several; where the call's own requests go and the
       * outbound proxy are always trusted. Others get 403. From the environment: comma-separated.
       */
      trustedSources: z.preprocess(
        (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s.length > 0) : v),
        z.array(z.string({ error: 'a list of "host:port"' }).regex(/^[^\s:[\]]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/, { error: 'a list of "host:port"' }), { error: 'a list of "host:port"' }).max(64, { error: 'at most 64 "host:port"' }),
      ),
      /**
       * DNS servers for the RFC 3263 lookups (NAPTR, SRV, A/AAAA) of a trunk given by name: "ip" or
       * "ip:port" ("[v6]:port"); [] = the system's resolvers. From the environment: comma-separated.
       */
      dnsServers: z.preprocess(
        (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s.length > 0) : v),
        z.array(z.string({ error: DNS_SERVERS }).refine(isDnsServer, { error: DNS_SERVERS }), { error: DNS_SERVERS }).max(8, { error: 'at most 8 DNS servers' }),
      ),
      /**
       * SIP over TLS (sips: or ;transport=tls targets); paths are made absolute by loadConfig. caFile:
       * the CAs the far end's certificate must chain to (null = the system's). certFile/keyFile: our
       * certificate, for the TLS listener on `port` (0 = any free one) and as client certificate;
       * null = no listener and no client certificate.
       */
      tls: section({
        port: intIn(0, 65535),
        caFile: z.string({ error: 'a file path or null' }).min(1, { error: 'a file path or null' }).nullable(),
        certFile: z.string({ error: 'a file path or null' }).min(1, { error: 'a file path or null' }).nullable(),
        keyFile: z.string({ error: 'a file path or null' }).min(1, { error: 'a file path or null' }).nullable(),
      }).refine((t) => (t.certFile === null) === (t.keyFile === null), { error: 'certFile and keyFile both set or both null', path: ['keyFile'] }),
    }),
    rtp: section({
      bindHost: nonEmptyString(),
      /** One pair per call in [portMin, portMax]: an even port for RTP, the next (odd) one for RTCP. */
      portMin: intIn(1024, 65534),
      portMax: intIn(1025, 65535),
      /** Listen for DTMF tones in the received audio: auto = when the phone negotiated no telephone-event. */
      inbandDtmf: oneOf(['auto', 'always', 'never'] as const),
      /**
       * No RTP or RTCP from the phone for this many seconds, while it should be sending (a hold
       * suspends the count), ends the call as failed / media_timeout; 0 = off. 30: a live phone sends
       * 50 packets a second, and even one that suppresses silence sends RTCP about every 5 s, so 30 s
       * of nothing is a dead line or a dropped NAT mapping, not a pause; and it ends such a call well
       * before the payment's digit timeouts and expiry would.
       */
      inactivityTimeoutSeconds: intIn(0, 3600),
      /**
       * Symmetric RTP: when the phone's RTP comes from another address than its SDP says (NAT), send
       * ours there, once one source has sent valid RTP of one SSRC; only that first source is taken.
       * false = RTP only from, and to, the SDP address.
       */
      symmetric: z.boolean({ error: 'true or false' }),
      /**
       * Media worker threads the calls' streams are spread over (each paces its share at 20 ms);
       * 0 = one per CPU, at most 4. More calls than one thread can send on time need more than one.
       */
      workers: intIn(0, 16),
      /**
       * SCHED_FIFO priority (1–99) the media worker threads ask for, so that a busy daemon cannot make
       * them wait for a CPU; 0 = none (nice -10 only). Needs CAP_SYS_NICE or RLIMIT_RTPRIO; without it
       * the threads run as before (a debug line says so).
       */
      realtimePriority: intIn(0, 99),
    }),
    /** The carrier's FreeSWITCH over its inbound event socket (telephony.engine = "freeswitch"). */
    freeswitch: section({
      host: nonEmptyString(),
      port: intIn(1, 65535),
      /** The event socket password (event_socket.conf.xml); null = read from passwordFile. Never logged. */
      password: z.string().min(1).max(256).nullable(),
      /** A file holding the password (first line), for secrets mounted as files; made absolute by loadConfig. */
      passwordFile: z.string().min(1).nullable(),
      /** Dial string template; {e164} is the enrolled number with "+", {number} without. */
      dialString: z.string({ error: 'a FreeSWITCH dial string containing {e164} or {number}, e.g. sofia/gateway/carrier/{e164}' })
        .refine(isSafeDialTemplate, { error: 'a FreeSWITCH dial string containing {e164} or {number}, e.g. sofia/gateway/carrier/{e164}, without , | { } [ ] ^ or spaces' }),
      callerIdNumber: z.string().regex(/^[A-Za-z0-9+._-]{1,32}$/, { error: 'a caller ID of letters, digits and + . _ -' }),
      /** true: ringback/early media from the far end do not count as an answer. */
      ignoreEarlyMedia: z.boolean({ error: 'true or false' }),
      ringTimeoutMs: intIn(5_000, 180_000),
      /** Where FreeSWITCH finds the prompt clips; null = the same paths as callpay (one host). */
      promptDir: z.string().min(1).nullable(),
      /** Run start_dtmf on every answered call, for trunks that carry digits as in-band tones. */
      inbandDtmf: z.boolean({ error: 'true or false' }),
      /** FreeSWITCH tears down a parked channel after this long, so a call whose controller died ends. */
      parkTimeoutSeconds: intIn(30, 3600),
      reconnectInitialMs: intIn(50, 60_000),
      reconnectMaxMs: intIn(100, 600_000),
    }),
    simulated: section({ outcome: oneOf(['approved', 'declined', 'wrong_pin', 'busy', 'no_answer', 'failed'] as const) }),
  }),
  ivr: section({
    /** PIN entries allowed per call. */
    pinTries: intIn(1, 10),
    firstDigitTimeoutMs: intIn(1_000, 60_000),
    interDigitTimeoutMs: intIn(1_000, 30_000),
    /** Wrong PINs across calls within the window that lock the consumer (an operator unlocks). */
    lockoutAttempts: intIn(1, 100),
    lockoutWindowHours: intIn(1, 720),
    /** Further dial attempts after busy or no answer, and the pause before each, within the payment's expiry. */
    retryAttempts: intIn(0, 10),
    /**
     * Toll-fraud caps on dial attempts (retries included) in a rolling hour, per consumer, per number
     * dialled (consumers may share a landline) and per merchant; past one, no dial is placed and the
     * payment is declined with call_limit_exceeded.
     */
    maxCallsPerConsumerPerHour: intIn(1, 1000),
    maxCallsPerNumberPerHour: intIn(1, 1000),
    maxCallsPerMerchantPerHour: intIn(1, 1_000_000),
    retryDelayMs: intIn(0, 600_000),
    /** Directory of prompt sets (<dir>/<locale>/manifest.json); null = the shipped prompts. */
    promptsDir: z.string().min(1).nullable(),
    /**
     * Say amounts as one phrase rendered while the phone rings (espeak-ng, cached beside the database) in the
     * locales whose speech reads them so (zh-TW: tone sandhi across the number); false, or espeak-ng
     * missing, = clip by clip from the prompt pack.
     */
    amountPhrases: z.boolean({ error: 'true or false' }),
    /**
     * The answering-machine guard (README "Voicemail guard"): the embedded engine listens to the
     * greeting before saying anything; a recording is hung up on (outcome machine_detected) and the
     * payment takes the no-answer path. Rules as Asterisk app_amd's, in ms of received audio.
     */
    machineDetection: section({
      enabled: z.boolean({ error: 'true or false' }),
      /** Silence this long from the answer: a person waiting for us to speak; proceed. */
      initialSilenceMs: intIn(500, 10_000),
      /** More voice than this before a pause: a recorded greeting. */
      maxGreetingMs: intIn(500, 10_000),
      /** A pause this long after the greeting: a person; proceed at once. */
      afterGreetingSilenceMs: intIn(100, 5_000),
      /** The analysis ends undecided (proceed) after this long. */
      totalAnalysisMs: intIn(1_000, 15_000),
      /** Voice shorter than this is not a word. */
      minWordMs: intIn(20, 1_000),
      /** More words than this before the pause: a recorded greeting. */
      maxWords: intIn(1, 50),
    })
      .refine((m) => m.maxGreetingMs < m.totalAnalysisMs, { error: 'maxGreetingMs below totalAnalysisMs (else a long greeting is never found)', path: ['maxGreetingMs'] })
      .refine((m) => m.initialSilenceMs < m.totalAnalysisMs, { error: 'initialSilenceMs below totalAnalysisMs', path: ['initialSilenceMs'] }),
  }),
  /**
   * The pre-dial risk check (README "Pre-dial risk check"): before an authorization call dials, a
   * signed POST to the carrier's own system asks whether the number was recently SIM-swapped, ported
   * or is unconditionally forwarded; `rules` turn the answer into allow, require_password or refuse.
   */
  risk: section({
    hook: section({
      /** The carrier's hook; null = no check (the default). */
      url: z.url({ protocol: /^https?$/, error: 'an http(s) URL or null' }).nullable(),
      /**
       * Absolute path of a file of signing secrets, one a line, newest first (at most 4, each at least
       * 32 characters): one v1 signature each in Callpay-Signature, as for webhooks. Needed with a url.
       */
      secretFile: z.string({ error: 'an absolute file path or null' }).regex(/^\//, { error: 'an absolute file path or null' }).nullable(),
      /** The whole exchange, connection to the answer's last byte; the call waits this long at most. */
      timeoutMs: intIn(50, 10_000),
      /** No usable answer (timeout, refused connection, non-2xx, malformed): allow = fail open, refuse = fail closed. */
      onFailure: oneOf(['allow', 'refuse'] as const),
    }).refine((h) => h.url === null || h.secretFile !== null, { error: 'risk.hook.url needs risk.hook.secretFile (the hook request is signed)', path: ['secretFile'] }),
    rules: section({
      /** A SIM change this many hours ago or less is a recent SIM swap. */
      simSwapWithinHours: intIn(1, 8760),
      simSwap: oneOf(RISK_ACTIONS),
      ported: oneOf(RISK_ACTIONS),
      /** Unconditional call forwarding: the call would ring another phone. */
      forwarded: oneOf(RISK_ACTIONS),
    }),
    /**
     * The call itself shows it was forwarded away from the enrolled line (a 181, a Diversion header, a
     * History-Info of more than one entry): refuse = cancel it (or hang up on its answer before a word
     * is said; the payment is declined call_forwarded), allow = carry on. Embedded engine only.
     */
    sipForwarding: oneOf(['allow', 'refuse'] as const),
    /**
     * Fraud reported on calls (the consumer keyed 0, README "Fraud reports"): this many reports
     * against one merchant within `windowHours` disable it (`merchant.disabled`, reason fraud_reports;
     * `callpay merchant enable` reverses it). 0 = never disable automatically.
     */
    fraudReports: section({
      disableMerchantAfter: intIn(0, 1_000_000),
      windowHours: intIn(1, 8760),
    }),
  }),
  argon2: section({
    // 2 passes over 19 MiB is the OWASP minimum for Argon2id; above 10 passes or 1 GiB a PIN check
    // would hold a worker for seconds while the consumer waits on the line.
    opsLimit: intIn(2, 10),
    memLimitKiB: intIn(19456, 1048576),
    workers: intIn(1, 16),
  }),
  selfService: selfServiceSchema,
}).refine(selfServiceEngineOk, SELF_SERVICE_ENGINE_ISSUE);

export type Config = z.infer<typeof configSchema>;
export type Ceilings = z.infer<typeof ceilingsSchema>;
