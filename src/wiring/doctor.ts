import type { Keyring } from '../crypto/keyring.js';
import type { Config } from '../config/schema.js';
import { isCallpayError } from '../domain/errors.js';
import { SHIPPED_PROMPTS_DIR } from '../ivr/prompts.js';
import { checkClock, checkDatabase, checkDisk, checkKeyFile, checkPrompts, fail, pass, warn, type CheckResult } from '../ops/doctor.js';
import { probeWebhook } from '../ops/webhook-probe.js';
import { inspectSqlite, type StoreInspection } from '../store/inspect.js';
import { inspectPostgres } from '../store/pg/inspect.js';
import { postgresUrl } from './stores.js';
import { connectEsl } from '../telephony/freeswitch/esl.js';
import { createLogger } from '../log.js';
import { probeSipPath } from '../telephony/sip-probe.js';
import { loadKeyring, readConfig, type Environment, type GlobalOptions } from './context.js';
import { eventSocketPassword } from './freeswitch.js';

export interface DoctorOptions {
  /** Also connect to every active merchant's webhook URL (TLS checked). */
  webhooks: boolean;
  /** Less free space than this where the database lives fails the disk check. */
  minFreeMiB: number;
  /** Bound of each network probe. */
  timeoutMs: number;
}

/** The telephone path the configured engine would use: can callpay reach it now? */
async function checkTelephony(config: Config, timeoutMs: number): Promise<CheckResult> {
  const engine = config.telephony.engine;
  if (engine === 'simulated') return warn('telephony', 'engine "simulated": no call is placed, payments are marked live = false');
  if (engine === 'freeswitch') {
    const c = config.telephony.freeswitch;
    const where = `${c.host}:${c.port}`;
    try {
      const esl = await connectEsl({ host: c.host, port: c.port, password: eventSocketPassword(c), events: ['HEARTBEAT'], timeoutMs });
      try {
        const status = await esl.api('status', timeoutMs);
        if (!/^UP /m.test(status) || !/is ready/.test(status)) return fail('telephony', `event socket ${where}: authenticated, but FreeSWITCH is not ready: ${status.split('\n', 1)[0]}`);
        return pass('telephony', `event socket ${where}: authenticated, FreeSWITCH is ready`);
      } finally {
        esl.close();
      }
    } catch (e) {
      return fail('telephony', `event socket ${where}: ${isCallpayError(e) ? e.message : (e as Error).message}`);
    }
  }
  const r = await probeSipPath(config.telephony.sip, timeoutMs, createLogger({ level: 'silent' }));
  return r.ok ? pass('telephony', r.detail) : fail('telephony', r.detail);
}

/**
 * Runs every check in order; a check that needs what an earlier one could not provide (the config,
 * the key) is reported as failed by that earlier one and not attempted. Read-only: the database is
 * opened read-only, nothing is migrated, no call is placed.
 */
export async function runDoctor(globals: GlobalOptions, where: Environment, opts: DoctorOptions): Promise<CheckResult[]> {
  let config: Config;
  try {
    config = readConfig(globals, where);
  } catch (e) {
    return [fail('config', isCallpayError(e) ? `${e.message} [${e.code}]` : String(e))];
  }
  const postgres = config.store.driver === 'postgres';
  const where_ = postgres ? (config.store.url ?? '') : config.database; // store.url never holds the password
  const out: CheckResult[] = [pass('config', `valid (engine ${config.telephony.engine}, ${postgres ? 'PostgreSQL' : 'database'} ${where_})`)];
  const fromEnv = where.env.CALLPAY_MASTER_KEY !== undefined;
  out.push(checkKeyFile(config.keyFile, fromEnv));
  let keyring: Keyring | null = null;
  try {
    keyring = await loadKeyring(config, where.env);
  } catch (e) {
    out.push(fail('key', isCallpayError(e) ? `${e.message} [${e.code}]` : String(e)));
  }
  let db: StoreInspection | null = null;
  try {
    db = keyring ? (postgres ? await inspectPostgres(postgresUrl(config), keyring) : inspectSqlite(config.database, keyring)) : null;
  } catch (e) {
    // A file SQLite cannot read at all (not a database, a damaged header or schema), or a PostgreSQL it cannot reach.
    out.push(fail('database', `${where_}: ${(e as Error).message}`));
  }
  if (db) out.push(...checkDatabase(where_, db));
  out.push(...(await checkPrompts(config.ivr.promptsDir ?? SHIPPED_PROMPTS_DIR, db?.voiceClips ?? [])));
  // On PostgreSQL the database's disk is the DBAs'; callpay's own files (voices, bills) live beside `database`.
  out.push(await checkDisk(config.database, opts.minFreeMiB));
  out.push(checkClock((where.clock ?? (() => new Date()))(), db?.newestWrite ?? null));
  out.push(await checkTelephony(config, opts.timeoutMs));
  if (opts.webhooks) {
    const urls = db?.webhookUrls ?? [];
    if (urls.length === 0) out.push(pass('webhook', 'no active merchant has a webhook URL'));
    for (const url of urls) out.push(await probeWebhook(url, opts.timeoutMs, new Date()));
  }
  return out;
}
