// The soak's world: a temp directory with a database prepared by the real CLI (run in this process,
// at the start, from the working tree): `callpay init`, two merchants, the cast of consumers with
// their accounts, top-ups and policies.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../test/helpers/cli.js';
import { baseEnv } from './env.js';
import { cast, PIN, type CastMember } from './cast.js';

export interface Merchant {
  id: string;
  apiKey: string;
}

export interface Consumer extends CastMember {
  id: string;
  accountId: string;
}

export interface World {
  dir: string;
  dbFile: string;
  merchants: Merchant[];
  consumers: Consumer[];
  /** Runs a callpay CLI command in this process (the working tree's code, loaded at the start). */
  cli(args: string[], stdin?: string): Promise<string>;
}

/** `env`: settings added to baseEnv(), e.g. the PostgreSQL store of a cluster test. */
export function makeCli(dir: string, env: Record<string, string> = {}): World['cli'] {
  return async (args, stdin) => {
    const r = await runCli(args, { cwd: dir, env: { ...baseEnv(), ...env }, logLevel: 'warn', ...(stdin === undefined ? {} : { stdin }) });
    if (r.code !== 0) throw new Error(`callpay ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  };
}

export async function prepareWorld(env: Record<string, string> = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'callpay-soak-'));
  try {
    return await enrol(dir, env);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

async function enrol(dir: string, env: Record<string, string>): Promise<World> {
  const cli = makeCli(dir, env);
  await cli(['init']);
  const merchants: Merchant[] = [];
  for (const name of ['Soak Stall', 'Soak Shop']) {
    const m = JSON.parse(await cli(['merchant', 'add', '--name', name, '--json'])) as { id: string; api_key: string };
    merchants.push({ id: m.id, apiKey: m.api_key });
  }
  const consumers: Consumer[] = [];
  for (const [i, member] of cast().entries()) {
    const added = JSON.parse(await cli(['consumer', 'add', '--login', member.login, '--phone', member.phone, '--national-id', `A1${String(23456780 + i)}`,
      '--address', `No. ${i + 1}, Soak Road`, '--locale', 'en-US', '--pin-stdin', '--json'], `${PIN}\n`)) as { id: string };
    const plan = member.plan.kind === 'prepaid' ? ['--plan', 'prepaid'] : ['--plan', 'postpaid', '--credit-limit', String(member.plan.creditLimit)];
    const account = JSON.parse(await cli(['account', 'add', member.login, '--kind', 'mobile', '--number', `09${String(10_000_000 + i)}`, ...plan, '--json'])) as { id: string };
    if (member.plan.kind === 'prepaid') await cli(['account', 'topup', account.id, '--amount', String(member.plan.topup)]);
    if (member.policy) await cli(['consumer', 'policy', member.login, ...member.policy]);
    consumers.push({ ...member, id: added.id, accountId: account.id });
  }
  return { dir, dbFile: join(dir, 'callpay.db'), merchants, consumers, cli };
}
