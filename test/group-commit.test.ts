import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/cli.js';
import { Keyring } from '../src/crypto/keyring.js';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite-store.js';
import { CallpayError } from '../src/domain/errors.js';
import type { StoredResponse } from '../src/payments/repositories.js';

/**
 * Group commit on the embedded store: units asked for in the same turn share one COMMIT (one
 * fsync), yet each caller hears back only once its own writes are committed, and a unit that fails
 * takes only its own writes with it.
 */
describe('SqliteStore group commit', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  /** A second connection: it sees only what is committed. */
  let look: Database.Database;
  const committed = () => look.prepare('SELECT display_name FROM merchants ORDER BY display_name').pluck().all() as string[];
  const add = (name: string) => ({ displayName: name, spokenName: name, webhookUrl: null });

  beforeEach(async () => {
    dir = tempDir();
    const path = join(dir.path, 'callpay.db');
    store = openSqliteStore({
      path,
      crypto: await Keyring.fromMasterKey(new Uint8Array(randomBytes(32))),
      clock: () => new Date(),
      cycleOf: () => '2026-11',
      webhookRetryForHours: 72,
    });
    look = new Database(path, { readonly: true });
  });
  afterEach(async () => {
    look.close();
    await store.close();
    dir.remove();
  });

  it('commits the units of one turn together, and answers each only after that commit', async () => {
    const seenInside: string[][] = [];
    const seenWhenAnswered: string[][] = [];
    const units = ['a', 'b', 'c'].map((name) =>
      store
        .withTransaction(async (tx) => {
          await tx.merchants.add(add(name));
          seenInside.push(committed()); // outside view while the group is open
          return name;
        })
        .then((value) => {
          seenWhenAnswered.push(committed());
          return value;
        }),
    );
    expect(await Promise.all(units)).toEqual(['a', 'b', 'c']);
    // one transaction: none of the three was visible outside while any of them ran…
    expect(seenInside).toEqual([[], [], []]);
    // …and every caller was answered with its own row (all three) already committed
    expect(seenWhenAnswered).toEqual([['a', 'b', 'c'], ['a', 'b', 'c'], ['a', 'b', 'c']]);
  });

  it('rolls back only the failing unit of a group; the others commit and it gets its own error', async () => {
    const ran: string[] = [];
    const results = await Promise.allSettled(
      ['ok1', 'bad', 'ok2'].map((name) =>
        store.withTransaction(async (tx) => {
          await tx.merchants.add(add(name));
          tx.afterCommit(() => ran.push(name));
          if (name === 'bad') throw new CallpayError('invalid_state', 'refused');
          return name;
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'invalid_state' });
    expect(committed()).toEqual(['ok1', 'ok2']);
    expect(ran).toEqual(['ok1', 'ok2']);
  });

  it('rejects every waiting unit of a group whose transaction is lost, and carries on with the next', async () => {
    const results = await Promise.allSettled([
      store.withTransaction(async (tx) => void (await tx.merchants.add(add('lost')))),
      store.withTransaction(async (tx) => {
        await tx.merchants.add(add('breaker'));
        store.db.prepare('ROLLBACK').run(); // what SQLite does itself on e.g. SQLITE_FULL
        throw new Error('disk full');
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(committed()).toEqual([]);
    await store.withTransaction(async (tx) => void (await tx.merchants.add(add('next'))));
    expect(committed()).toEqual(['next']);
  });

  it('replays the same Idempotency-Key asked for twice in one group: one record, one write', async () => {
    const merchantId = (await store.merchants.add(add('shop'))).merchant.id;
    const hash = createHash('sha256').update('POST /v1/payments\n{}').digest();
    const once = () =>
      store.withTransaction(async (tx): Promise<{ response: StoredResponse; replay: boolean }> => {
        const stored = await tx.idempotency.lookup(merchantId, 'key-1', hash);
        if (stored) return { response: stored, replay: true };
        const made = await tx.merchants.add(add('made once'));
        const response = { status: 201, body: { id: made.merchant.id } };
        await tx.idempotency.save(merchantId, 'key-1', hash, response);
        return { response, replay: false };
      });
    const [first, second] = await Promise.all([once(), once()]);
    expect(first.replay).toBe(false);
    expect(second).toEqual({ response: first.response, replay: true });
    expect(committed()).toEqual(['made once', 'shop']);
  });

  it('lets a statement from outside run between groups, not only when no unit is waiting', async () => {
    const first = store.withTransaction(async (tx) => void (await tx.merchants.add(add('g1'))));
    // A write from outside waits for the open group (a read is answered at once from the read-only connection).
    const outside = store.merchants.add(add('outside'));
    await first;
    // asked for after the write, as soon as the first group is answered: it must not overtake the waiting write
    const second = store.withTransaction(async (tx) => (await tx.merchants.list({ limit: 10 })).map((m) => m.displayName));
    const [, seen] = await Promise.all([outside, second]);
    expect(seen).toContain('g1');
    expect(seen).toContain('outside');
  });
});
