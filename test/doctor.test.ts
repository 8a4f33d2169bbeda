import { chmodSync, cpSync, createWriteStream, openSync, rmSync, writeFileSync, writeSync, closeSync, statSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tempDir, type CliResult } from './helpers/cli.js';
import { startSipp, type Sipp } from './helpers/sipp.js';
import { startEslPeer, type EslPeer } from './helpers/esl-peer/peer.js';
import { SHIPPED_PROMPTS_DIR } from '../src/ivr/prompts.js';

interface Check { check: string; status: 'pass' | 'warn' | 'fail' | 'skip'; detail: string }

/** Issue 13, item 4: one line per check, non-zero exit on any failure, --json. */
describe('callpay doctor', { timeout: 60_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  let env: Record<string, string>;
  const stops: Array<() => Promise<void> | void> = [];
  const cli = (args: string[], extraEnv: Record<string, string> = {}) => runCli(args, { cwd: dir.path, env: { ...env, ...extraEnv } });
  async function doctor(extraEnv: Record<string, string> = {}, args: string[] = []): Promise<{ r: CliResult; checks: Check[]; byName: (n: string) => Check | undefined }> {
    const r = await cli(['doctor', '--json', '--timeout-ms', '1500', ...args], extraEnv);
    const checks = (JSON.parse(r.stdout) as { checks: Check[] }).checks;
    return { r, checks, byName: (n) => checks.find((c) => c.check === n) };
  }
  const failed = (checks: Check[]) => checks.filter((c) => c.status === 'fail').map((c) => c.check);

  beforeEach(async () => {
    dir = tempDir();
    env = { CALLPAY_TELEPHONY_ENGINE: 'simulated' };
    expect((await cli(['init'])).code).toBe(0);
  });
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
    dir.remove();
  });

  it('passes on a good install, one line per check, exit 0', async () => {
    const r = await cli(['doctor']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    for (const name of ['config', 'key-file', 'key-matches-database', 'database', 'migrations', 'audit-log', 'prompts-en-US', 'prompts-zh-TW', 'disk', 'clock', 'telephony']) {
      expect(lines.some((l) => new RegExp(`^(ok  |WARN)  ${name}\\b`).test(l)), name).toBe(true);
    }
    expect(lines.at(-1)).toMatch(/^healthy: \d+ checks, 0 failed, 1 warnings$/); // simulated engine
    const { checks } = await doctor();
    expect(failed(checks)).toEqual([]);
  });

  it('fails on a config it cannot load, naming the key', async () => {
    writeFileSync(join(dir.path, 'callpay.json'), JSON.stringify({ http: { port: 'eighty' } }));
    const { r, checks } = await doctor();
    expect(r.code).toBe(1);
    expect(checks).toEqual([expect.objectContaining({ check: 'config', status: 'fail', detail: expect.stringContaining('http.port') })]);
    expect(r.stderr).toContain('[doctor_failed]');
  });

  it('fails on a key file others can read, and on a key that does not match the database', async () => {
    chmodSync(join(dir.path, 'callpay.key'), 0o644);
    let d = await doctor();
    expect(d.r.code).toBe(1);
    expect(d.byName('key-file')).toMatchObject({ status: 'fail', detail: expect.stringContaining('644') });
    chmodSync(join(dir.path, 'callpay.key'), 0o600);
    d = await doctor({ CALLPAY_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
    expect(failed(d.checks)).toEqual(['key-matches-database']);
  });

  it('fails on a damaged database and on a database newer than this build', async () => {
    const file = join(dir.path, 'callpay.db');
    const db = new Database(file);
    db.pragma('journal_mode = DELETE'); // fold the WAL in, so the bytes below are the database
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from the future', '2026-01-01')").run();
    db.close();
    let d = await doctor();
    expect(d.byName('migrations')).toMatchObject({ status: 'fail', detail: expect.stringContaining('999') });

    // Scribble over the second page onwards (page 1 holds the header): b-tree pages no longer parse.
    const size = statSync(file).size;
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(Math.min(8192, size - 4096), 0xa5), 0, Math.min(8192, size - 4096), 4096);
    closeSync(fd);
    d = await doctor();
    expect(d.r.code).toBe(1);
    expect(d.byName('database')).toMatchObject({ status: 'fail' });
  });

  it('fails on a prompt set with a clip missing or in the wrong format', async () => {
    const prompts = join(dir.path, 'prompts');
    cpSync(SHIPPED_PROMPTS_DIR, prompts, { recursive: true });
    rmSync(join(prompts, 'en-US/digits/7.wav'));
    writeFileSync(join(prompts, 'zh-TW/digits/7.wav'), Buffer.from('RIFF....WAVEnot really'));
    const d = await doctor({ CALLPAY_IVR_PROMPTS_DIR: prompts });
    expect(d.r.code).toBe(1);
    expect(d.byName('prompts-en-US')).toMatchObject({ status: 'fail', detail: expect.stringContaining('7.wav') });
    expect(d.byName('prompts-zh-TW')).toMatchObject({ status: 'fail' });
  });

  it('fails when less disk is free than asked for', async () => {
    const d = await doctor({}, ['--min-free-mib', '9999999']);
    expect(failed(d.checks)).toEqual(['disk']);
  });

  it('fails when the database holds times ahead of the clock (the clock went back)', async () => {
    const db = new Database(join(dir.path, 'callpay.db'));
    db.prepare("INSERT INTO audit_log (at, actor, action, subject, details, prev_hash, hash) VALUES ('2099-01-01T00:00:00.000Z', 'x', 'consumer.add', 'x', '{}', x'00', x'01')").run();
    db.close();
    const d = await doctor();
    expect(d.byName('clock')).toMatchObject({ status: 'fail', detail: expect.stringContaining('clock went back') });
    // A row written behind callpay's back does not carry the chain's MAC either.
    expect(d.byName('audit-log')).toMatchObject({ status: 'fail', detail: expect.stringContaining('entry 1 (deleted)') });
  });

  it('sends OPTIONS to the trunk: passes when it answers, fails when nobody does', async () => {
    const trunk: Sipp = await startSipp({ scenario: 'answer-options', timeoutMs: 20_000 });
    stops.push(() => trunk.stop());
    const embedded = { CALLPAY_TELEPHONY_ENGINE: 'embedded', CALLPAY_TELEPHONY_SIP_BIND_HOST: '127.0.0.1', CALLPAY_TELEPHONY_SIP_OUTBOUND_PROXY: trunk.hostPort };
    let d = await doctor(embedded);
    expect(d.byName('telephony')).toMatchObject({ status: 'pass', detail: expect.stringContaining(`OPTIONS to ${trunk.hostPort} (udp) answered 200`) });
    expect(d.r.code).toBe(0);
    // No number in an OPTIONS (sipp's own tags hold random digits, so look for a number where one would go).
    expect(trunk.messages()).not.toMatch(/(\+|sip:|tel:)886|\{e164\}/);

    const silent = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    stops.push(() => new Promise<void>((r) => silent.close(() => r())));
    d = await doctor({ ...embedded, CALLPAY_TELEPHONY_SIP_OUTBOUND_PROXY: `127.0.0.1:${silent.address().port}` });
    expect(d.r.code).toBe(1);
    expect(d.byName('telephony')).toMatchObject({ status: 'fail', detail: expect.stringContaining('no response') });
  });

  it('authenticates on the FreeSWITCH event socket and asks its status; a wrong password fails', async () => {
    const peer: EslPeer = await startEslPeer({ dir: dir.path, scenario: { numbers: {} }, password: 'ClueCon' });
    stops.push(() => peer.stop());
    const fs = { CALLPAY_TELEPHONY_ENGINE: 'freeswitch', CALLPAY_TELEPHONY_FREESWITCH_HOST: '127.0.0.1', CALLPAY_TELEPHONY_FREESWITCH_PORT: String(peer.port), CALLPAY_TELEPHONY_FREESWITCH_PASSWORD: 'ClueCon' };
    let d = await doctor(fs);
    expect(d.byName('telephony')).toMatchObject({ status: 'pass', detail: expect.stringContaining('FreeSWITCH is ready') });
    d = await doctor({ ...fs, CALLPAY_TELEPHONY_FREESWITCH_PASSWORD: 'wrong' });
    expect(d.byName('telephony')).toMatchObject({ status: 'fail' });
    expect(JSON.stringify(d.checks)).not.toContain('wrong');
  });

  it('--webhooks connects to each merchant URL: plain http warns, an untrusted certificate fails', async () => {
    const server: Server = createHttpServer((_q, s) => s.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    stops.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as { port: number }).port;
    expect((await cli(['merchant', 'add', '--name', 'Shop', '--webhook-url', `http://127.0.0.1:${port}/hook`])).code).toBe(0);
    let d = await doctor({}, ['--webhooks']);
    expect(d.byName('webhook')).toMatchObject({ status: 'warn', detail: expect.stringContaining('plain http') });
    expect(d.r.code).toBe(0);

    // An https URL whose port speaks plain HTTP: the TLS handshake fails.
    expect((await cli(['merchant', 'add', '--name', 'Shop 2', '--webhook-url', `https://127.0.0.1:${port}/hook`])).code).toBe(0);
    d = await doctor({}, ['--webhooks']);
    expect(d.r.code).toBe(1);
    expect(d.checks.filter((c) => c.check === 'webhook').map((c) => c.status).sort()).toEqual(['fail', 'warn']);
  });
});
