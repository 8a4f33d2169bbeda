import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Router } from 'express';
import type { Logger } from '../log.js';

/** public/checkout/, found from this module so it works from src/ (tsx) and from dist/. */
const ASSET_DIR = new URL('../../public/checkout/', import.meta.url);

const FILES = { 'checkout.js': 'text/javascript; charset=utf-8', 'checkout.css': 'text/css; charset=utf-8' } as const;
type AssetName = keyof typeof FILES;

export interface Assets {
  urls: { js: string; css: string };
  router: Router;
}

/**
 * The page's script and style, read once at start-up. URLs carry a content hash, so browsers may
 * cache them for a year and still get a new version after an upgrade. A missing file is logged
 * (the pages still work without script, if unstyled) rather than stopping the daemon.
 */
export function loadAssets(log: Logger): Assets {
  const loaded = new Map<AssetName, { body: Buffer; hash: string }>();
  for (const name of Object.keys(FILES) as AssetName[]) {
    try {
      const body = readFileSync(new URL(name, ASSET_DIR));
      loaded.set(name, { body, hash: createHash('sha256').update(body).digest('hex').slice(0, 12) });
    } catch (e) {
      log.error({ err: e, asset: name }, 'checkout asset missing: pages will be served without it');
    }
  }
  const url = (name: AssetName) => `/checkout/assets/${name}?v=${loaded.get(name)?.hash ?? '0'}`;
  const router = Router();
  router.get('/checkout/assets/:name', (req, res, next) => {
    const name = req.params.name as AssetName;
    const asset = Object.hasOwn(FILES, name) ? loaded.get(name) : undefined;
    if (!asset) return next();
    res.setHeader('Content-Type', FILES[name]);
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.end(asset.body);
  });
  return { urls: { js: url('checkout.js'), css: url('checkout.css') }, router };
}
