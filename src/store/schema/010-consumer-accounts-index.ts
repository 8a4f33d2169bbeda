/**
 * A consumer's billable accounts by consumer: enrolment counts them and moves the default among them,
 * and only the default had an index (a partial one), so each of those statements read every account
 * of every consumer (test/query-plans.test.ts).
 */
export const CONSUMER_ACCOUNTS_INDEX_SQL = `
  CREATE INDEX billable_accounts_consumer ON billable_accounts (consumer_id);
`;
