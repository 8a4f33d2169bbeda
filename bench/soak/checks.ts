// All invariants on one consistent snapshot of the database, for one phase of a run.
import { checkAcknowledged } from './check-acks.js';
import { checkIntegrity } from './check-integrity.js';
import { checkLedger } from './check-ledger.js';
import { checkLiveness, type Phase } from './check-liveness.js';
import { checkPayments } from './check-payments.js';
import { Findings } from './findings.js';
import type { Journal } from './journal.js';
import { readSnapshot, type Snapshot } from './snapshot.js';
import type { World } from './setup.js';

export function checkDatabase(world: World, journal: Journal, phase: Phase, label: string): { findings: Findings; snapshot: Snapshot } {
  const findings = new Findings(label);
  const snapshot = readSnapshot(world.dbFile);
  checkIntegrity(snapshot, findings);
  checkLedger(snapshot, findings);
  checkPayments(snapshot, findings, new Map(world.consumers.map((c) => [c.accountId, c.role])));
  checkAcknowledged(snapshot, findings, journal, world.merchants.map((m) => m.id));
  checkLiveness(snapshot, findings, phase);
  return { findings, snapshot };
}
