import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Field names that may carry personal data or secrets. Redaction lives here, in the logger
 * configuration, so no call site has to remember it (CONVENTIONS: "redacted by the logger
 * configuration, not by remembering").
 */
const SENSITIVE_KEYS = [
  'pin', 'password', 'digits', 'phone', 'phoneNumber', 'number', 'e164', 'nationalId', 'national_id',
  'address', 'accountNumber', 'account_number', 'masterKey', 'key', 'apiKey', 'api_key', 'secret',
  'webhookSecret', 'authorization', 'token',
];

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const key of SENSITIVE_KEYS) {
    paths.push(key, `*.${key}`, `*.*.${key}`);
  }
  paths.push('req.headers.authorization', 'req.headers.cookie');
  return paths;
}

export interface LogOptions {
  level: string;
  destination?: DestinationStream;
}

export function createLogger(opts: LogOptions): Logger {
  return pino(
    {
      level: opts.level,
      base: { app: 'callpay' },
      redact: { paths: redactPaths(), censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}

/**
 * Writes an already formatted (and redacted) line where `log` writes its own: how a worker thread's
 * lines, made by a logger of the same configuration there, join the main thread's output.
 */
export function writeLogLine(log: Logger, line: string): void {
  const stream = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym];
  if (stream && typeof (stream as DestinationStream).write === 'function') (stream as DestinationStream).write(line);
  else process.stderr.write(line);
}
