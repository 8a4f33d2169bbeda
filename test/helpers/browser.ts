import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/**
 * Debian's Chromium driven by playwright-core, one browser per test.
 *
 * Started as this machine needs it (node.md): headless, no sandbox (we are root), and no background
 * networking, so it never reaches for Google's hosts through the closed network. Each browser gets a
 * new empty profile in a temp directory of its own, and its crash-report database goes there too
 * (XDG_CONFIG_HOME), so nothing is left in $HOME. close() ends it gracefully, then by PID: the
 * browser's process group (playwright spawns it as a group leader) and anything else whose command
 * line names the temp directory (the crashpad handlers, which leave the group).
 */

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

/** A phone-sized viewport (iPhone 12-15 class), the checkout page's main audience. */
export const PHONE = { width: 390, height: 844 } as const;

export const SCREENSHOT_DIR = fileURLToPath(new URL('../../test-results/screenshots/', import.meta.url));

export interface LaunchOptions {
  /** navigator.language and the Accept-Language header. Default en-US. */
  locale?: string;
  viewport?: { width: number; height: number };
  /** Timeout of every page action (click, fill, waits). Default 10 s. */
  actionTimeoutMs?: number;
  /** Timeout of navigations. Default 15 s. */
  navigationTimeoutMs?: number;
}

export interface TestBrowser {
  context: BrowserContext;
  /** The context's first tab. */
  page: Page;
  /** The browser's main process (the leader of its process group), when it could be found. */
  pid: number | undefined;
  /** The profile directory; removed by close(). */
  dir: string;
  /** Everything the page reported that a clean page never does: console errors, uncaught errors, CSP violations. */
  problems: string[];
  /** Closes gracefully (bounded), kills what is left by PID, removes the profile. Safe to call twice. */
  close(): Promise<void>;
}

const open = new Set<TestBrowser>();
let exitHookInstalled = false;

export async function launchBrowser(options: LaunchOptions = {}): Promise<TestBrowser> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'callpay-chromium-'));
  const profile = join(dir, 'profile');
  mkdirSync(profile);
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS],
      env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'config') },
      timeout: 20_000,
      locale: options.locale ?? 'en-US',
      viewport: options.viewport ?? PHONE,
      // playwright's SIGTERM/SIGHUP handlers would keep a signalled test worker alive; without them
      // it dies as usual, and Chromium exits by itself when its pipe to us closes (checked with SIGKILL).
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
  } catch (e) {
    killByDir(dir);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const pid = browserPid(profile);
  const problems: string[] = [];
  let closing: Promise<void> | undefined;
  const browser: TestBrowser = {
    context,
    // set below, once the first tab is known
    page: undefined as unknown as Page,
    pid,
    dir,
    problems,
    close() {
      closing ??= (async () => {
        open.delete(browser);
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), 5_000)));
        await Promise.race([context.close().catch(() => undefined), timedOut]);
        clearTimeout(timer);
        try {
          if (pid !== undefined) killGroup(pid);
          killByDir(dir);
          await waitGone(pid, dir, 3_000);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      })();
      return closing;
    },
  };
  open.add(browser);

  try {
    context.setDefaultTimeout(options.actionTimeoutMs ?? 10_000);
    context.setDefaultNavigationTimeout(options.navigationTimeoutMs ?? 15_000);
    // Most CSP violations reach the console too; the DOM event catches every one and names the directive.
    await context.exposeBinding('__callpayCspViolation', (_source, text: string) => void problems.push(`csp: ${text}`));
    await context.addInitScript(
      `document.addEventListener('securitypolicyviolation', (e) => window.__callpayCspViolation(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber));`,
    );
    const watch = (page: Page) => {
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()} (${m.location().url})`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    };
    context.on('page', watch);
    const first = context.pages()[0];
    if (first) watch(first);
    browser.page = first ?? (await context.newPage());
  } catch (e) {
    await browser.close();
    throw e;
  }
  return browser;
}

/** Writes test-results/screenshots/<name>.png (the whole page) and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name.replace(/[^\w.-]+/g, '_')}.png`);
  await page.screenshot({ path, fullPage: true, animations: 'disabled', timeout: 10_000 });
  return path;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // last resort when a test run dies without its afterEach: no Chromium outlives the test process
  process.once('exit', () => {
    for (const b of open) {
      if (b.pid !== undefined) killGroup(b.pid);
      killByDir(b.dir);
      rmSync(b.dir, { recursive: true, force: true });
    }
  });
}

interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  state: string;
  cmdline: string;
}

/** Processes on this machine, read from /proc. */
function processes(): Proc[] {
  const list: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state = '', ppid, pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      list.push({ pid: Number(entry), ppid: Number(ppid), pgid: Number(pgid), state, cmdline });
    } catch {
      // gone between readdir and read
    }
  }
  return list;
}

/** Our child whose command line names the profile: the browser itself (the wrapper script execs it). */
function browserPid(profile: string): number | undefined {
  return processes().find((p) => p.ppid === process.pid && p.cmdline.includes(`--user-data-dir=${profile}`))?.pid;
}

/** By its command line: an exiting process no longer has /proc/<pid>/exe. Zombies are not counted (init reaps them). */
function isChromium(p: Proc): boolean {
  return p.state !== 'Z' && p.cmdline.startsWith('/usr/lib/chromium/');
}

function killGroup(pid: number): void {
  // The group outlives its leader (zygotes stay in it), and its id can't be reused while a member
  // lives: signal it only while a Chromium process is in it, so a reused PID is never hit.
  if (!processes().some((p) => p.pgid === pid && isChromium(p))) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function killByDir(dir: string): void {
  for (const p of processes()) {
    if (p.cmdline.includes(dir) && isChromium(p)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Ours: in the browser's process group, or naming its temp directory. */
function leftovers(pid: number | undefined, dir: string): Proc[] {
  return processes().filter((p) => isChromium(p) && (p.cmdline.includes(dir) || (pid !== undefined && p.pgid === pid)));
}

async function waitGone(pid: number | undefined, dir: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (leftovers(pid, dir).length > 0) {
    if (Date.now() > deadline) throw new Error(`Chromium processes still running after close: ${leftovers(pid, dir).map((p) => p.pid).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
