import { spawnSync } from 'node:child_process';
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
});
