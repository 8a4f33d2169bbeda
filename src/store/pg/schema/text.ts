/**
 * Every text column compares byte by byte, as SQLite's do: ids and ISO timestamps are ordered and
 * paged by `<`/`ORDER BY`, which under a database's linguistic default collation (en_US…) would sort
 * differently from the SQLite store and could not use the indexes for prefix matches.
 */
export const TEXT = 'TEXT COLLATE "C"';
