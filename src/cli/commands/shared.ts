import { InvalidArgumentError, type Command } from 'commander';
import { openContext, type AppContext, type GlobalOptions } from '../../wiring/context.js';
import { createOutput, type Output } from '../output.js';
import { createSecretSource, type SecretSource } from '../secrets.js';
import type { CliIo } from '../io.js';
import { operatorName } from '../actor.js';
import type { AuditAction, AuditDetails } from '../../domain/audit.js';
import type { Transaction } from '../../payments/repositories.js';
import { invalidField } from '../../domain/errors.js';

export type AuditEntryOf<T> = { subject: string; details?: AuditDetails } | ((result: T) => { subject: string; details?: AuditDetails });

export interface CommandKit {
  ctx: AppContext;
  out: Output;
  secrets: SecretSource;
  /**
   * Runs `change` and appends its audit entry (the subject's id and what changed, never values) in
   * one transaction: no change without its record.
   */
  audited<T>(action: AuditAction, change: (tx: Transaction) => Promise<T>, entry: AuditEntryOf<T>): Promise<T>;
}

/** Opens the app for one command, runs it, and always closes the database and workers. */
export async function withApp(io: CliIo, cmd: Command, run: (kit: CommandKit) => Promise<void>): Promise<void> {
  const globals = cmd.optsWithGlobals<GlobalOptions & { json?: boolean }>();
  const ctx = await openContext(globals, {
    cwd: io.cwd,
    env: io.env,
    ...(io.logDestination ? { logDestination: io.logDestination } : {}),
  });
  try {
    const actor = operatorName(io.env);
    const audited: CommandKit['audited'] = (action, change, entry) =>
      ctx.store.withTransaction(async (tx) => {
        const result = await change(tx);
        const { subject, details = {} } = typeof entry === 'function' ? entry(result) : entry;
        await tx.audit.append({ actor, action, subject, details });
        return result;
      });
    await run({ ctx, out: createOutput(io.stdout, io.stderr, globals.json === true), secrets: createSecretSource(io.stdin, io.stderr), audited });
  } finally {
    await ctx.close();
  }
}

const LIMIT_EXPECTED = 'expected a whole number from 1 to 1000';
const isLimit = (input: string) => /^\d{1,4}$/.test(input) && Number(input) >= 1 && Number(input) <= 1000;

/** commander coerces nothing; limits arrive as text and are checked here. */
export function parseLimit(input: string): number {
  if (!isLimit(input)) throw new InvalidArgumentError(LIMIT_EXPECTED);
  return Number(input);
}

/**
 * `fraud list` and `call list`'s --limit: a CallpayError, so it prints as one line naming the option,
 * with [invalid_field] (exit 1), where parseLimit's is a usage error (exit 2).
 */
export function limitField(input: string): number {
  if (!isLimit(input)) throw invalidField('limit', LIMIT_EXPECTED);
  return Number(input);
}

/**
 * --since (`fraud list`, `call list`, `webhook replay`), refused like limitField's --limit. Only full
 * ISO 8601 times with a zone: a bare date would silently mean midnight UTC.
 */
export function sinceField(input: string): string {
  const ms = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(input) ? Date.parse(input) : NaN;
  if (Number.isNaN(ms)) throw invalidField('since', 'expected an ISO 8601 time with zone, e.g. 2025-03-01T00:00:00Z');
  return new Date(ms).toISOString();
}
