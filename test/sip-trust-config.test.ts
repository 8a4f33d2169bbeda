import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { TrustedSources } from '../src/telephony/sip/trust.js';
import { tempDir } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';

/** Issue 10, D2: which sources a dialog trusts, and the `telephony.sip.trustedSources` setting. */
describe('trusted sources: matching and configuration', () => {
  it('matches address and port exactly; IPv4-mapped IPv6 and brackets are the same address', () => {
    const t = new TrustedSources([{ host: '192.0.2.10', port: 5060 }, { host: '[2001:db8::1]', port: 5070 }]);
    expect(t.allows({ host: '192.0.2.10', port: 5060 })).toBe(true);
    expect(t.allows({ host: '::ffff:192.0.2.10', port: 5060 })).toBe(true);
    expect(t.allows({ host: '192.0.2.10', port: 5061 })).toBe(false);
    expect(t.allows({ host: '192.0.2.11', port: 5060 })).toBe(false);
    expect(t.allows({ host: '2001:DB8::1', port: 5070 })).toBe(true);
  });

  it('trusts a host name once looked up (every address), nobody before or if the lookup fails', async () => {
    let answer!: (a: string[]) => void;
    const t = new TrustedSources([{ host: 'trunk.example', port: 5060 }, { host: 'nowhere.example', port: 5060 }], (host) =>
      host === 'trunk.example' ? new Promise((resolve) => (answer = resolve)) : Promise.reject(new Error('ENOTFOUND')));
    expect(t.allows({ host: '192.0.2.20', port: 5060 })).toBe(false);
    answer(['192.0.2.20', '192.0.2.21']);
    await waitFor('the lookup to land', () => t.allows({ host: '192.0.2.21', port: 5060 }));
    expect(t.allows({ host: '192.0.2.20', port: 5060 })).toBe(true);
    expect(t.allows({ host: '192.0.2.20', port: 5061 })).toBe(false);
  });

  it('telephony.sip.trustedSources: [] by default, a list in a file, comma-separated in the environment, checked', () => {
    const dir = tempDir();
    try {
      expect(loadConfig({ cwd: dir.path, env: {} }).telephony.sip.trustedSources).toEqual([]);
      const env = { CALLPAY_TELEPHONY_SIP_TRUSTED_SOURCES: '10.0.0.1:5060, [2001:db8::2]:5080' };
      expect(loadConfig({ cwd: dir.path, env }).telephony.sip.trustedSources).toEqual(['10.0.0.1:5060', '[2001:db8::2]:5080']);
      writeFileSync(join(dir.path, 'callpay.json'), JSON.stringify({ telephony: { sip: { trustedSources: ['sbc.example:5060'] } } }));
      expect(loadConfig({ cwd: dir.path, env: {} }).telephony.sip.trustedSources).toEqual(['sbc.example:5060']);
      writeFileSync(join(dir.path, 'callpay.json'), JSON.stringify({ telephony: { sip: { trustedSources: ['10.0.0.1'] } } }));
      expect(() => loadConfig({ cwd: dir.path, env: {} })).toThrow(expect.objectContaining({ code: 'config_invalid', field: 'telephony.sip.trustedSources.0' }));
    } finally {
      dir.remove();
    }
  });
});
