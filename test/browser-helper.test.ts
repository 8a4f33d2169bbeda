import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { launchBrowser } from './helpers/browser.js';

/** The browser helper's promise to every other test: no Chromium outlives its test, nor its profile. */

/** PIDs of live (not zombie) Chromium processes in `pgid`'s group or naming `dir`. */
function chromiumOf(pgid: number, dir: string): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).flatMap((e) => {
    try {
      const cmdline = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const [state, , group] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ours = Number(group) === pgid || cmdline.includes(dir);
      return ours && state !== 'Z' && cmdline.startsWith('/usr/lib/chromium/') ? [Number(e)] : [];
    } catch {
      return [];
    }
  });
}

describe('test/helpers/browser.ts', { timeout: 60_000 }, () => {
  it('closes gracefully: every process gone, profile removed', async () => {
    const b = await launchBrowser();
    expect(b.pid).toBeGreaterThan(0);
    await b.page.setContent('<p>hello</p>');
    expect(chromiumOf(b.pid!, b.dir).length).toBeGreaterThan(1);
    await b.close();
    expect(chromiumOf(b.pid!, b.dir)).toEqual([]);
    expect(existsSync(b.dir)).toBe(false);
    await b.close(); // twice is fine
  });

  it('kills by PID a browser that does not answer', async () => {
    const b = await launchBrowser();
    const pid = b.pid!;
    process.kill(pid, 'SIGSTOP'); // hung: the graceful close can never finish
    const started = Date.now();
    await b.close();
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(chromiumOf(pid, b.dir)).toEqual([]);
    expect(existsSync(b.dir)).toBe(false);
  });

  it('reports console errors, uncaught errors and CSP violations as problems', async () => {
    const b = await launchBrowser();
    try {
      await b.page.route('http://page.test/', (route) => route.fulfill({
        contentType: 'text/html',
        headers: { 'content-security-policy': "script-src 'self'" },
        body: '<p>x</p><script>console.error("inline ran")</script><script src="/app.js"></script>',
      }));
      await b.page.route('http://page.test/app.js', (route) => route.fulfill({ contentType: 'text/javascript', body: 'console.error("boom"); null.x;' }));
      await b.page.goto('http://page.test/');
      await expect.poll(() => b.problems.length).toBeGreaterThanOrEqual(3);
      expect(b.problems).toEqual(expect.arrayContaining([
        expect.stringMatching(/^csp: script-src(-elem)? blocked inline/),
        expect.stringMatching(/^console: boom/),
        expect.stringMatching(/^pageerror: /),
      ]));
      expect(b.problems.join('\n')).not.toContain('inline ran');
    } finally {
      await b.close();
    }
  });

  it('starts as this machine needs: headless, no background networking, fresh profile, phone viewport', async () => {
    const b = await launchBrowser({ locale: 'zh-TW' });
    try {
      const cmdline = readFileSync(`/proc/${b.pid}/cmdline`, 'utf8').split('\0');
      for (const flag of ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']) {
        expect(cmdline).toContain(flag);
      }
      expect(cmdline).toContain(`--user-data-dir=${b.dir}/profile`);
      expect(b.page.viewportSize()).toEqual({ width: 390, height: 844 });
      expect(await b.page.evaluate('navigator.language')).toBe('zh-TW');
    } finally {
      await b.close();
    }
  });
});
