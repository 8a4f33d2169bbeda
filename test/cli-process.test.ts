import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/cli.js';

const BIN = fileURLToPath(new URL('../bin/callpay.js', import.meta.url));

/** The installed launcher as an operator runs it: a real process, real exit codes. */
describe('bin/callpay.js as a process', () => {
  let dir: ReturnType<typeof tempDir>;
  const run = (args: string[], input = '') =>
    spawnSync(process.execPath, [BIN, ...args], { cwd: dir.path, input, encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '' } });

  beforeEach(() => (dir = tempDir()));
  afterEach(() => dir.remove());

  it('prints help for every command', () => {
    for (const args of [[], ['consumer'], ['consumer', 'add'], ['account', 'topup'], ['merchant', 'rotate-key'], ['init']]) {
      const r = run([...args, '--help']);
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stdout).toContain('Usage: callpay');
    }
  });

  it('enrols from standard input and exits non-zero with one line on bad input', () => {
    expect(run(['init']).status).toBe(0);
    const ok = run(['consumer', 'add', '--login', 'alice', '--phone', '+886912345678', '--national-id', 'A123456789', '--address', 'No. 7, Section 1', '--pin-stdin'], '482916\n');
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const bad = run(['consumer', 'add', '--login', 'bob', '--phone', '12345', '--national-id', 'A123456789', '--address', 'No. 7', '--pin-stdin'], '482916\n');
    expect(bad.status).toBe(1);
    expect(bad.stderr.trimEnd().split('\n')).toEqual([expect.stringContaining('phone')]);
    const usage = run(['consumer', 'add', '--login', 'bob']);
    expect(usage.status).toBe(2);
  });

  it('exits 6 from `call test` when --timeout runs out before a silent target answers', async () => {
    expect(run(['init']).status).toBe(0);
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      const env = { PATH: process.env.PATH ?? '', CALLPAY_TELEPHONY_SIP_REQUEST_URI: `sip:{number}@127.0.0.1:${silent.address().port}`, CALLPAY_TELEPHONY_SIP_BIND_PORT: '0' };
      const r = spawnSync(process.execPath, [BIN, 'call', 'test', '--number', '+886912345678', '--timeout', '1'], { cwd: dir.path, encoding: 'utf8', timeout: 20_000, env });
      expect(r.status, r.stderr).toBe(6);
      expect(r.stdout).toMatch(/^outcome\s+timeout/m);
      expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringContaining('--timeout 1 s')]);
    } finally {
      silent.close();
    }
  });

  it("stops on an unknown CALLPAY_ variable with one line naming it and its section's settings", () => {
    expect(run(['init']).status).toBe(0);
    const r = spawnSync(process.execPath, [BIN, 'consumer', 'list'], { cwd: dir.path, encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '', CALLPAY_WEBHOOK_SECRET: 'whsec_x' } });
    expect(r.status).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/CALLPAY_WEBHOOK_SECRET: unknown key; .*CALLPAY_WEBHOOKS_TIMEOUT_MS.* \[config_invalid\]$/)]);
  });
});
