import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Prefixed ids ("pay_…", "cons_…") so an id says what it names in logs and tickets. Like a ULID:
 * 10 characters of millisecond time then 16 random ones, in Crockford base32 whose alphabet is in
 * ASCII order, so ids sort by creation time and serve as pagination cursors.
 */
export function newId(prefix: string, now = Date.now()): string {
  let time = '';
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  const random = [...randomBytes(16)].map((b) => CROCKFORD[b % 32]).join('');
  return `${prefix}_${time}${random}`;
}
