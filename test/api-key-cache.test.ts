import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestStore, type TestStore } from './helpers/stores.js';
import { ApiKeyCache } from '../src/store/api-key-cache.js';
import type { Merchant } from '../src/domain/merchant.js';

describe('ApiKeyCache', () => {
  const merchant = (status: Merchant['status'] = 'active') => ({ id: 'mer_1', status }) as Merchant;

  it('loads a key once while the database version stands still, and again after it moves', async () => {
    let version = 1;
    const cache = new ApiKeyCache(() => version);
    let loads = 0;
    const load = async () => (loads++, merchant());
    await cache.lookup('k', load);
    await cache.lookup('k', load);
    expect(loads).toBe(1);
    version = 2;
    await cache.lookup('k', load);
    expect(loads).toBe(2);
  });

  it('never keeps an unknown key', async () => {
    const cache = new ApiKeyCache(() => 1);
    let loads = 0;
    const load = async () => void loads++;
    await cache.lookup('guess', load);
    await cache.lookup('guess', load);
    expect(loads).toBe(2);
  });

  it('goes to the database while a write is open, and keeps nothing it read before the write ended', async () => {
    const cache = new ApiKeyCache(() => 1);
    let loads = 0;
    let answer = merchant();
    const load = async () => (loads++, answer);
    await cache.lookup('k', load);
    cache.writtenInGroup();
    answer = merchant('disabled');
    expect((await cache.lookup('k', load))?.status).toBe('disabled');
    expect((await cache.lookup('k', load))?.status).toBe('disabled');
    expect(loads).toBe(3);
    cache.groupEnded();
    await cache.lookup('k', load);
    await cache.lookup('k', load);
    expect(loads).toBe(4);
  });

  it('does not store an answer whose lookup began before an invalidation', async () => {
    const cache = new ApiKeyCache(() => 1);
    let release: (m: Merchant) => void = () => {};
    const slow = cache.lookup('k', () => new Promise<Merchant>((resolve) => (release = resolve)));
    const write = cache.around(async () => undefined);
    release(merchant()); // read before the write: stale once it is done
    await Promise.all([slow, write]);
    let loads = 0;
    await cache.lookup('k', async () => (loads++, merchant('disabled')));
    expect(loads).toBe(1);
  });
});

/** The cache in the embedded store: what another process or this one changes is seen on the next request. */
describe('SqliteStore API key lookups', () => {
  let store: TestStore;
  beforeEach(async () => {
    store = await openTestStore('sqlite');
  });
  afterEach(() => store.close());
  const add = () => store.merchants.add({ displayName: 'Shop', spokenName: 'Shop', webhookUrl: null });

  it('sees a key revoked and a merchant disabled by another process (the CLI)', async () => {
    const { merchant, key } = await add();
    const first = await store.merchants.findByApiKey(key.apiKey);
    expect(first?.id).toBe(merchant.id);
    expect(await store.merchants.findByApiKey(key.apiKey)).toBe(first); // the same object: kept, not read again
    await store.tamper("UPDATE merchants SET status = 'disabled' WHERE id = ?", merchant.id); // another connection
    expect((await store.merchants.findByApiKey(key.apiKey))?.status).toBe('disabled');
    await store.tamper('UPDATE merchant_api_keys SET revoked_at = ? WHERE merchant_id = ?', new Date().toISOString(), merchant.id);
    expect(await store.merchants.findByApiKey(key.apiKey)).toBeUndefined();
  });
  it('sees what this process writes, in a transaction or outside one', async () => {
    const { merchant, key } = await add();
    expect((await store.merchants.findByApiKey(key.apiKey))?.status).toBe('active');
    let during: string | undefined;
    await store.withTransaction(async (tx) => {
      await tx.merchants.setStatus(merchant.id, 'disabled');
      // From outside the open transaction: the committed state, read beside it, and not kept.
      during = (await store.merchants.findByApiKey(key.apiKey))?.status;
    });
    expect(during).toBe('active');
    expect((await store.merchants.findByApiKey(key.apiKey))?.status).toBe('disabled');
    await store.merchants.setStatus(merchant.id, 'active');
    expect((await store.merchants.findByApiKey(key.apiKey))?.status).toBe('active');
    const next = await store.merchants.rotateKey(merchant.id, { revokeOthers: true });
    expect(await store.merchants.findByApiKey(key.apiKey)).toBeUndefined();
    expect((await store.merchants.findByApiKey(next.apiKey))?.id).toBe(merchant.id);
  });
});
