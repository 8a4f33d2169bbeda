/** The same index as SQLite's migration 010: a consumer's billable accounts by consumer. */
export const PG_CONSUMER_ACCOUNTS_INDEX_SQL = `
  CREATE INDEX billable_accounts_consumer ON billable_accounts (consumer_id);
`;
