import { randomFillSync } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Random bytes drawn a page at a time: one call into the CSPRNG per 256 ids, not one per id. */
const pool = Buffer.alloc(4096);
let used = pool.length;

/**
 * Prefixed ids ("pay_…", "cons_…") so an id says what it names in logs and tickets. Like a ULID:
 * 10 characters of millisecond time then 16 random ones, in Crockford base32 whose alphabet is in
 * ASCII order, so ids sort by creation time and serve as pagination cursors.
 */
export function newId(prefix: string, now = Date.now()): string {
  let time = '';
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  if (used + 16 > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  let random = '';
  for (let i = used; i < used + 16; i++) random += CROCKFORD[pool[i]! % 32];
  used += 16;
  return `${prefix}_${time}${random}`;
}
