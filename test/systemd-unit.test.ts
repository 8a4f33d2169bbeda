import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { loadMasterKey } from '../src/crypto/master-key.js';
import { tempDir } from './helpers/cli.js';

const UNIT = fileURLToPath(new URL('../packaging/callpay.service', import.meta.url));
const EXAMPLE_CONFIG = fileURLToPath(new URL('../packaging/callpay.json', import.meta.url));

/** Directives by section, in order; a key set twice keeps every value (systemd appends or resets). */
function parseUnit(text: string): Map<string, Array<[string, string]>> {
  const sections = new Map<string, Array<[string, string]>>();
  let current: Array<[string, string]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1]) {
      current = [];
      sections.set(header[1], current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !current) throw new Error(`unit: not a directive: ${line}`);
    current.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return sections;
}

describe('packaging/callpay.service', () => {
  const unit = parseUnit(readFileSync(UNIT, 'utf8'));
  const service = unit.get('Service') ?? [];
  const values = (key: string) => service.filter(([k]) => k === key).map(([, v]) => v);
  const one = (key: string) => {
    const all = values(key);
    expect(all, key).toHaveLength(1);
    return all[0];
  };
  const dir = tempDir();
  afterAll(() => {
    chmodSync(join(dir.path, 'credentials'), 0o700);
    dir.remove();
  });

  it('has the hardening, the credential and the restart policy the operations guide promises', () => {
    expect(one('User')).toBe('callpay');
    expect(one('StateDirectory')).toBe('callpay');
    expect(one('WorkingDirectory')).toBe('/var/lib/callpay');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ReadWritePaths')).toBe('/var/lib/callpay');
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('ProtectHome')).toBe('yes');
    // Empty: no capability at all (callpay binds unprivileged ports).
    expect(one('CapabilityBoundingSet')).toBe('');
    expect(one('AmbientCapabilities')).toBe('');
    expect(one('RestrictAddressFamilies')?.split(/\s+/).sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_UNIX']);
    expect(one('LoadCredential')).toBe('master.key:/etc/callpay/master.key');
    expect(values('Environment')).toContain('CALLPAY_KEY_FILE=%d/master.key');
    expect(one('Restart')).toBe('on-failure');
    expect(one('StandardOutput')).toBe('journal');
    expect(one('ExecStart')).toMatch(/^\/\S+ .*--config \/etc\/callpay\/callpay\.json serve$/);
    expect(unit.get('Install')).toContainEqual(['WantedBy', 'multi-user.target']);
  });

  it('passes systemd-analyze verify without a warning (or, where systemd is absent, names an absolute executable)', () => {
    const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
    const exec = one('ExecStart')?.split(/\s+/)[0] ?? '';
    expect(exec.startsWith('/')).toBe(true);
    if (!analyze) {
      // Without systemd the parse above is the check; the executable must still be a plain absolute path.
      expect(exec).toMatch(/^\/[\w/.-]+$/);
      return;
    }
    const r = spawnSync(analyze, ['verify', UNIT], { encoding: 'utf8', timeout: 30_000 });
    expect(r.error).toBeUndefined();
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });

  it('the example config, with the environment the unit sets, loads; the credential copy (0400) is accepted as the key file', async () => {
    // What systemd puts in $CREDENTIALS_DIRECTORY: the key, mode 0400, owned by the service user.
    const credentials = join(dir.path, 'credentials');
    const keyFile = join(dir.path, 'master.key');
    writeFileSync(keyFile, `${Buffer.alloc(32, 7).toString('base64')}\n`, { mode: 0o600 });
    mkdirSync(credentials, { mode: 0o700 });
    copyFileSync(keyFile, join(credentials, 'master.key'));
    chmodSync(join(credentials, 'master.key'), 0o400);
    chmodSync(credentials, 0o500);
    const env = Object.fromEntries(
      values('Environment').map((e) => {
        const [name, ...rest] = e.split('=');
        return [name ?? '', rest.join('=').replaceAll('%d', credentials)];
      }),
    );
    const config = loadConfig({ cwd: dir.path, configPath: EXAMPLE_CONFIG, env });
    expect(config.keyFile).toBe(join(credentials, 'master.key'));
    expect(config.database).toBe('/var/lib/callpay/callpay.db');
    expect(config.http.host).toBe('127.0.0.1');
    const key = await loadMasterKey({ keyFile: config.keyFile, env: {} });
    expect(key).toHaveLength(32);
  });
});
