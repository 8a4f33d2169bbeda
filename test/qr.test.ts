import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import QRCode from 'qrcode';
import { afterEach, describe, expect, it } from 'vitest';
import { startWorld, type TestWorld } from './helpers/daemon.js';
import { qrForTerminal, qrImageFormat } from '../src/checkout/qr.js';

/** The pay link's path and query on this world's daemon (the configured public URL is not where it listens). */
const onDaemon = (w: TestWorld, link: string) => {
  const u = new URL(link);
  return `${w.daemon.url}${u.pathname}${u.search}`;
};

describe('callpay merchant qr', () => {
  let w: TestWorld | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it('prints a signed pay link that opens the landing page; a tampered one is refused', async () => {
    w = await startWorld();
    const r = await w.cli(['merchant', 'qr', w.merchantId, '--amount', '150', '--reference', 'Stall 12', '--description', 'Oyster omelette']);
    expect(r.code, r.stderr).toBe(0);
    // Not a terminal: the link alone, so it can be piped.
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const link = new URL(r.stdout.trim());
    expect(`${link.origin}${link.pathname}`).toBe(`http://127.0.0.1:8080/pay/${w.merchantId}`);
    expect(Object.fromEntries(link.searchParams)).toMatchObject({ amount: '15000', currency: 'TWD', reference: 'Stall 12', description: 'Oyster omelette' });
    expect(link.searchParams.get('sig')).toBeTruthy();

    const page = await fetch(onDaemon(w, link.href), { signal: AbortSignal.timeout(10_000) });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<main[^>]*id="checkout"/);

    for (const [key, value] of [['amount', '1'], ['reference', 'Stall 13'], ['sig', 'A'.repeat(43)]] as const) {
      const tampered = new URL(link.href);
      tampered.searchParams.set(key, value);
      const res = await fetch(onDaemon(w, tampered.href), { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
      expect(res.status, `${key} changed`).toBeGreaterThanOrEqual(400);
    }
  });

  it('gives { url } with --json, and an open-amount link without --amount', async () => {
    w = await startWorld();
    const r = await w.cli(['merchant', 'qr', w.merchantId, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { url } = JSON.parse(r.stdout) as { url: string };
    const link = new URL(url);
    expect(link.pathname).toBe(`/pay/${w.merchantId}`);
    expect(link.searchParams.has('amount')).toBe(false);
    expect(link.searchParams.get('currency')).toBe('TWD');
    const page = await fetch(onDaemon(w, url), { signal: AbortSignal.timeout(10_000) });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/id="amount"/);
  });

  it('refuses bad input with one line naming the field, and exit code 1', async () => {
    w = await startWorld();
    const cases: Array<[string[], string]> = [
      [['--amount', 'abc'], 'amount'],
      [['--amount', '1.234'], 'amount'],
      [['--amount', '0'], 'amount'],
      [['--amount', '-5'], 'amount'],
      [['--currency', 'XYZ'], 'currency'],
      [['--reference', 'a\nb'], 'reference'],
      [['--description', 'x'.repeat(201)], 'description'],
      [['--out', join(w.dir, 'qr.gif')], 'out'],
    ];
    for (const [args, field] of cases) {
      const r = await w.cli(['merchant', 'qr', w.merchantId, ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^callpay: ${field}: .*\\[invalid_field\\]$`, 'm'));
    }
    const unknown = await w.cli(['merchant', 'qr', 'mer_00000000000000000000000000']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/\[not_found\]/);
    await w.cli(['merchant', 'disable', w.merchantId]);
    const disabled = await w.cli(['merchant', 'qr', w.merchantId]);
    expect(disabled.code).toBe(1);
    expect(disabled.stderr).toMatch(/^callpay: merchant: .*disabled.*\[invalid_state\]$/m);
  });

  it('writes the QR code as SVG or PNG with --out', async () => {
    w = await startWorld();
    const svg = join(w.dir, 'stall.svg');
    const r = await w.cli(['merchant', 'qr', w.merchantId, '--amount', '80', '--out', svg, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ url: expect.stringContaining('/pay/'), file: svg });
    const text = readFileSync(svg, 'utf8');
    expect(text).toMatch(/^<\?xml /);
    expect(text).toMatch(/<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(text).toMatch(/<path/);

    const png = join(w.dir, 'stall.png');
    expect((await w.cli(['merchant', 'qr', w.merchantId, '--out', png])).code).toBe(0);
    expect(readFileSync(png).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  });
});

describe('the QR drawn for a terminal', () => {
  it('is the same symbol as qrcode makes, two modules per character, black on white', () => {
    const text = 'http://127.0.0.1:8080/pay/mer_01HZX3?amount=15000&currency=TWD&sig=abc';
    const drawn = qrForTerminal(text);
    const { modules } = QRCode.create(text, { errorCorrectionLevel: 'M' });
    const lines = drawn.split('\n');
    for (const line of lines) expect(line).toMatch(/^\x1b\[30;47m[ ▀▄█]+\x1b\[0m$/);
    // Back from half blocks to modules: the quiet zone is 2 modules on every side.
    const rows = lines.map((l) => [...l.replace(/\x1b\[[\d;]*m/g, '')]);
    const dark = (x: number, y: number) => {
      const ch = rows[Math.floor((y + 2) / 2)]![x + 2]!;
      return ch === '█' || ((y + 2) % 2 === 0 ? ch === '▀' : ch === '▄');
    };
    for (let y = 0; y < modules.size; y++) {
      for (let x = 0; x < modules.size; x++) expect(dark(x, y), `module ${x},${y}`).toBe(modules.get(y, x) === 1);
    }
    expect(rows[0]!.every((c) => c === ' ')).toBe(true);
  });

  it('picks the image format by extension', () => {
    expect(qrImageFormat('a.SVG')).toBe('svg');
    expect(qrImageFormat('/x/b.png')).toBe('png');
    expect(() => qrImageFormat('c.jpg')).toThrow(/out: /);
  });
});
