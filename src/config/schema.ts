import * as z from 'zod';

/**
 * The shape of callpay's configuration. Every object is strict so that a misspelt key is an error
 * rather than a silently ignored setting. Each check's `error` is the "expected ..." half of the
 * message that load.ts reports; load.ts adds the source, the key and the value it got.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const LOCALES = ['en-US', 'zh-TW'] as const;
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

function section<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(shape, { error: 'an object' });
}

export const configSchema = section({
  /** SQLite file; made absolute by loadConfig. */
  database: nonEmptyString(),
  /** Master key file (mode 0600); made absolute by loadConfig. */
  keyFile: nonEmptyString(),
  log: section({ level: oneOf(LOG_LEVELS) }),
  http: section({
    host: nonEmptyString(),
    port: intIn(0, 65535),
    /** Base of the checkout URLs handed to merchants; may differ from host:port behind a proxy. */
    publicUrl: z.url({ protocol: /^https?$/, error: 'an http(s) URL' }),
  }),
  currency: oneOf(CURRENCIES),
  locale: oneOf(LOCALES),
  argon2: section({
    // 2 passes over 19 MiB is the OWASP minimum for Argon2id; above 10 passes or 1 GiB a PIN check
    // would hold a worker for seconds while the consumer waits on the line.
    opsLimit: intIn(2, 10),
    memLimitKiB: intIn(19456, 1048576),
    workers: intIn(1, 16),
  }),
});

export type Config = z.infer<typeof configSchema>;
