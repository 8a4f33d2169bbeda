import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/cli.js';
import { Keyring } from '../src/crypto/keyring.js';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite-store.js';
import { CallpayError } from '../src/domain/errors.js';

/**
 * The transaction port of the embedded store, on a real SQLite file: all or nothing, nested units
 * as savepoints, work after commit only, and no statement from outside slipping into an open
 * transaction while it awaits.
 */
describe('SqliteStore transactions', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: SqliteStore;
  let look: Database.Database;
  const merchants = () => look.prepare('SELECT display_name FROM merchants ORDER BY display_name').pluck().all();
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

  it('commits every write of a unit together, or none of them', async () => {
    await store.withTransaction(async (tx) => {
      await tx.merchants.add(add('A'));
      await tx.merchants.add(add('B'));
    });
    await expect(
      store.withTransaction(async (tx) => {
        await tx.merchants.add(add('C'));
        throw new CallpayError('invalid_state', 'refused');
      }),
    ).rejects.toMatchObject({ code: 'invalid_state' });
    expect(merchants()).toEqual(['A', 'B']);
  });

  it('undoes only a failed nested unit, and runs after-commit work once the outer one commits', async () => {
    const ran: string[] = [];
    await store.withTransaction(async (tx) => {
      await tx.merchants.add(add('outer'));
      await tx.withTransaction(async (inner) => {
        await inner.merchants.add(add('kept'));
        inner.afterCommit(() => ran.push('kept'));
      });
      await expect(
        tx.withTransaction(async (inner) => {
          await inner.merchants.add(add('undone'));
          inner.afterCommit(() => ran.push('undone'));
          throw new Error('nested failure');
        }),
      ).rejects.toThrow('nested failure');
      tx.afterCommit(() => ran.push('outer'));
      expect(ran, 'nothing runs before the commit').toEqual([]);
    });
    expect(merchants()).toEqual(['kept', 'outer']);
    expect(ran).toEqual(['kept', 'outer']);
  });

  it('never runs after-commit work of a unit that rolled back', async () => {
    const ran: string[] = [];
    await expect(
      store.withTransaction(async (tx) => {
        tx.afterCommit(() => ran.push('x'));
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(ran).toEqual([]);
  });

  it('keeps statements from outside out of an open transaction: writes wait until it ends, reads see the last commit at once', async () => {
    await store.merchants.add(add('before'));
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const unit = store.withTransaction(async (tx) => {
      await tx.merchants.add(add('inside'));
      order.push('inside written');
      await gate;
      throw new Error('rolled back');
    });
    // A write from outside while the transaction is open waits; it is not swallowed by the rollback.
    const outside = store.merchants.add(add('outside')).then(() => order.push('outside written'));
    // A read is answered from the read-only connection: never the open transaction's uncommitted rows.
    const read = store.merchants.list({ limit: 10 }).then((l) => order.push(`outside read ${l.map((m) => m.displayName).join(',')}`));
    await read;
    expect(order).toEqual(['inside written', 'outside read before']);
    release();
    await expect(unit).rejects.toThrow('rolled back');
    await outside;
    expect(order).toEqual(['inside written', 'outside read before', 'outside written']);
    expect(merchants()).toEqual(['before', 'outside']);
    // Once it has ended, a read sees what was committed meanwhile.
    expect((await store.merchants.list({ limit: 10 })).map((m) => m.displayName).sort()).toEqual(['before', 'outside']);
  });

  it('runs transactions one after another, in the order they were asked for', async () => {
    const order: number[] = [];
    await Promise.all(
      [1, 2, 3].map((n) =>
        store.withTransaction(async (tx) => {
          order.push(n);
          await tx.merchants.add(add(`m${n}`));
          await new Promise((r) => setTimeout(r, 5));
          order.push(n);
        }),
      ),
    );
    expect(order).toEqual([1, 1, 2, 2, 3, 3]);
    expect(merchants()).toEqual(['m1', 'm2', 'm3']);
  });

  it('answers a repository error as a rejected promise, not a throw', async () => {
    const result = store.merchants.get('mer_missing');
    expect(result).toBeInstanceOf(Promise);
    await expect(result).rejects.toMatchObject({ code: 'not_found' });
  });
});
