/**
 * Every sealed value and blind index callpay stores, for the key rotation of either store (the
 * dials' index-only numbers are handled apart). A rotation cursor's step is an index into SEALED,
 * then DIALS_STEP: the order is part of the cursor's meaning.
 */

/** A sealed column, and the blind index kept beside it (if any). */
export interface SealedColumn {
  sealed: string;
  /** The column name in the AAD ("table/column/id"). */
  aadName: string;
  index?: { column: string; kind: string };
}

export interface SealedTable {
  table: string;
  columns: readonly SealedColumn[];
  /** PIN and password hashes: tagged with their pepper key, never re-made (that needs the secret). */
  secretHashes?: readonly string[];
}

export const SEALED: readonly SealedTable[] = [
  {
    table: 'consumers',
    columns: [
      { sealed: 'login_sealed', aadName: 'login', index: { column: 'login_index', kind: 'login' } },
      { sealed: 'phone_sealed', aadName: 'phone', index: { column: 'phone_index', kind: 'phone' } },
      { sealed: 'national_id_sealed', aadName: 'national_id' },
      { sealed: 'address_sealed', aadName: 'address' },
    ],
    secretHashes: ['pin_hash', 'password_hash'],
  },
  { table: 'billable_accounts', columns: [{ sealed: 'number_sealed', aadName: 'number', index: { column: 'number_index', kind: 'account_number' } }] },
  { table: 'webhook_secrets', columns: [{ sealed: 'secret_sealed', aadName: 'secret' }] },
];

export const DIALS_STEP = SEALED.length;
