// The daemon in this process: `callpay init` and `merchant add` in a temp dir, then startDaemon on
// 127.0.0.1, port 0, with telephony.engine=simulated for its own payments.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { main as cliMain } from '../../src/cli/main.js';
import { openContext } from '../../src/wiring/context.js';
import { startDaemon, type Daemon } from '../../src/wiring/daemon.js';
import { dirs, registerDaemon } from './cleanup.js';
import { HOST } from './config.js';

async function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => void (out += c.toString()));
  stderr.on('data', (c: Buffer) => void (err += c.toString()));
  const code = await cliMain(['node', 'callpay', '--log-level', 'warn', ...args], { stdin: Readable.from([]), stdout, stderr, env, cwd });
  if (code !== 0) throw new Error(`callpay ${args.join(' ')} exited ${code}: ${err}`);
  return out;
}

export interface HttpCounter { ok: number; other: number }

export async function startIntake(): Promise<{ url: string; apiKey: string; counter: HttpCounter }> {
  const dir = mkdtempSync(join(tmpdir(), 'callpay-bench-calls-'));
  dirs.push(dir);
  const env: NodeJS.ProcessEnv = {
    CALLPAY_HTTP_HOST: HOST, CALLPAY_HTTP_PORT: '0', CALLPAY_ADMIN_PORT: '0', CALLPAY_TELEPHONY_ENGINE: 'simulated', CALLPAY_LOG_LEVEL: 'warn',
    CALLPAY_RATE_LIMIT_PER_SECOND: '100000', CALLPAY_RATE_LIMIT_BURST: '100000', CALLPAY_ARGON2_WORKERS: '1',
  };
  await cli(['init'], dir, env);
  const { api_key: apiKey } = JSON.parse(await cli(['merchant', 'add', '--name', 'Bench Shop', '--json'], dir, env)) as { api_key: string };
  const ctx = await openContext({ logLevel: 'warn' }, { cwd: dir, env });
  let daemon: Daemon;
  try {
    daemon = await startDaemon(ctx);
  } catch (e) {
    await ctx.close();
    throw e;
  }
  registerDaemon(daemon, ctx);
  const counter: HttpCounter = { ok: 0, other: 0 };
  daemon.server.on('request', (_req, res) => {
    res.once('finish', () => (res.statusCode === 201 ? counter.ok++ : counter.other++));
  });
  return { url: daemon.url, apiKey, counter };
}
