// SQLite's own view of the file: PRAGMA integrity_check says "ok", no foreign key is dangling.
import type { Findings } from './findings.js';
import type { Snapshot } from './snapshot.js';

export function checkIntegrity(s: Snapshot, f: Findings): void {
  f.expect(s.integrity.length === 1 && s.integrity[0] === 'ok', 'PRAGMA integrity_check ok', () => s.integrity.slice(0, 3).join('; '));
  f.expect(s.foreignKeyProblems === 0, 'PRAGMA foreign_key_check empty', () => `${s.foreignKeyProblems} rows`);
}
