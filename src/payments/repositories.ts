import type { Payment, NewPayment, PaymentStatus, Transition, TransitionPatch } from '../domain/payment.js';
import type { Consumer, ConsumerChanges, ConsumerPolicy, ConsumerStatus, NewConsumer } from '../domain/consumer.js';
import type { BillableAccount, NewAccount } from '../domain/account.js';
import type { ApiKeyInfo, IssuedApiKey, Merchant, MerchantStatus } from '../domain/merchant.js';
import type { HoldRequest, HoldResult } from '../domain/ledger.js';
import type { DeliveryInfo, DeliveryStatus, DueDelivery, EventType, MerchantEvent } from '../domain/event.js';
import type { CallAttempt, CallAttemptFilter, CallRecord } from '../domain/call.js';
import type { FrictionlessUsage } from '../domain/policy.js';
import type { BillLine, SettlementRow } from '../domain/billing.js';
import type { AuditEntry, AuditInput, AuditVerdict } from '../domain/audit.js';
import type { KeyMaintenance } from '../domain/key-rotation.js';
import type { AllowanceLock, FraudReport, FraudReportFilter } from '../domain/fraud.js';

/**
 * The store as the application sees it: one interface per aggregate and a transaction port. Every
 * method is asynchronous so that a networked database (PostgreSQL, for several nodes) implements
 * the same interfaces; the embedded SQLite store answers at once. Slow work (a call, Argon2id)
 * never happens inside `withTransaction`.
 */

export interface PaymentRepository {
  insert(p: NewPayment, status: PaymentStatus, reason: string): Promise<Payment>;
  get(id: string): Promise<Payment>;
  find(id: string): Promise<Payment | undefined>;
  /** Another merchant's payment is indistinguishable from a missing one (`not_found`). */
  getForMerchant(merchantId: string, id: string): Promise<Payment>;
  /** Newest first; `before` is the last id of the previous page. */
  list(merchantId: string, opts: { reference?: string; status?: PaymentStatus; before?: string; limit: number }): Promise<Payment[]>;
  /** Moves a payment if the state machine allows it; `expectFrom` guards races. */
  transition(id: string, to: PaymentStatus, reason: string, patch?: TransitionPatch, expectFrom?: readonly PaymentStatus[]): Promise<Payment>;
  /** The PIN was verified: recorded durably before the charge, so a crash in between can finish it. */
  markAuthorized(id: string, reason: string): Promise<Payment>;
  markNotLive(id: string): Promise<void>;
  transitions(id: string): Promise<Transition[]>;
  /** Open payments whose time is up (calls get a grace period). */
  dueForExpiry(now: Date, callGraceMs: number): Promise<Payment[]>;
  /** Payments in the call step. */
  calling(): Promise<Payment[]>;
  /** Takes (or keeps) a call for `node` until `untilIso` unless another node holds a live lease; whether it did. */
  leaseCall(id: string, node: string, untilIso: string, nowIso: string): Promise<boolean>;
  /** Extends `node`'s leases on these calls; the ids it still owns. */
  renewCallLeases(node: string, ids: readonly string[], untilIso: string): Promise<string[]>;
  /** Calls in progress whose node stopped renewing (lease out, or none taken since `staleBeforeIso`). */
  abandonedCalls(nowIso: string, staleBeforeIso: string): Promise<Payment[]>;
  /** Authorization calls started since `since` for a consumer or a merchant (the toll-fraud caps). */
  callsStartedSince(by: { consumerId: string } | { merchantId: string }, since: Date): Promise<number>;
  /** A consumer's charged payments (succeeded, refunded in part or whole), newest first: self-service reads them out. */
  recentForConsumer(consumerId: string, limit: number): Promise<Payment[]>;
  /** Sum and count of call-less successes since the consumer's last success authorized by call. */
  frictionlessUsage(consumerId: string): Promise<FrictionlessUsage>;
  insertRefund(id: string, paymentId: string, amount: number, reason: string | null): Promise<void>;
  refunds(paymentId: string): Promise<Array<{ id: string; amount: number; reason: string | null; createdAt: string }>>;
}

/** Consumers with their personal data opened; PIN and password only ever as hashes. */
export interface ConsumerRepository {
  add(input: NewConsumer): Promise<Consumer>;
  get(id: string): Promise<Consumer>;
  find(id: string): Promise<Consumer | undefined>;
  findByLogin(normalizedLogin: string): Promise<Consumer | undefined>;
  findByPhone(e164: string): Promise<Consumer[]>;
  list(opts: { status?: ConsumerStatus; after?: string; limit: number }): Promise<Consumer[]>;
  update(id: string, changes: ConsumerChanges): Promise<Consumer>;
  setPolicy(id: string, policy: ConsumerPolicy): Promise<Consumer>;
  setStatus(id: string, status: ConsumerStatus): Promise<Consumer>;
  setPinHash(id: string, pinHash: string): Promise<void>;
  setPasswordHash(id: string, passwordHash: string | null): Promise<void>;
  /** Replaces a PIN/password hash only if it is still `expected`; whether it did. */
  replaceSecretHash(id: string, which: 'pin' | 'password', expected: string, next: string): Promise<boolean>;
  pinHash(id: string): Promise<string>;
  passwordHash(id: string): Promise<string | null>;
}

export interface AccountRepository {
  add(input: NewAccount): Promise<BillableAccount>;
  get(id: string): Promise<BillableAccount>;
  listForConsumer(consumerId: string): Promise<BillableAccount[]>;
  defaultFor(consumerId: string): Promise<BillableAccount | undefined>;
  topup(id: string, amount: number, memo: string | null): Promise<BillableAccount>;
}

export interface MerchantRepository {
  add(input: { displayName: string; spokenName: string; webhookUrl: string | null }): Promise<{ merchant: Merchant; key: IssuedApiKey }>;
  get(id: string): Promise<Merchant>;
  find(id: string): Promise<Merchant | undefined>;
  list(opts: { after?: string; limit: number }): Promise<Merchant[]>;
  keys(merchantId: string): Promise<ApiKeyInfo[]>;
  rotateKey(merchantId: string, opts: { revokeOthers: boolean }): Promise<IssuedApiKey>;
  setVoiceClip(id: string, path: string | null): Promise<Merchant>;
  revokeKey(merchantId: string, keyId: string): Promise<void>;
  setStatus(id: string, status: MerchantStatus): Promise<Merchant>;
  findByApiKey(apiKey: string): Promise<Merchant | undefined>;
}

/** Double-entry, append-only: one hold per payment, one post-or-void per hold; retries are no-ops. */
export interface LedgerRepository {
  currentCycle(): Promise<string>;
  available(billableAccountId: string): Promise<number>;
  hold(req: HoldRequest): Promise<HoldResult>;
  post(paymentId: string): Promise<string>;
  void(paymentId: string): Promise<string | null>;
  hasHold(paymentId: string): Promise<boolean>;
  refund(paymentId: string, refundId: string, amount: number): Promise<string>;
}

/** Merchant events; `append` inside the transaction of the change it reports queues its webhook. */
export interface EventRepository {
  append(merchantId: string, type: EventType, paymentId: string | null, data: Record<string, unknown>): Promise<MerchantEvent>;
  enqueueDelivery(seq: number, merchantId: string, url: string): Promise<string>;
  list(merchantId: string, opts: { after?: number; limit: number; type?: EventType; paymentId?: string }): Promise<MerchantEvent[]>;
  get(id: string): Promise<MerchantEvent | undefined>;
}

/** The webhook outbox: rows change only while pending, so an outcome is written once. */
export interface DeliveryRepository {
  due(nowIso: string, limit: number): Promise<DueDelivery[]>;
  /** A lease: compare-and-set on the due time read, so two dispatchers never send the same row at once. */
  claim(d: DueDelivery, leaseUntilIso: string): Promise<boolean>;
  markDelivered(id: string, httpStatus: number, nowIso: string): Promise<void>;
  /** `nextAttemptIso` null gives up: the row becomes 'failed'. */
  markAttemptFailed(id: string, httpStatus: number | null, error: string, nextAttemptIso: string | null): Promise<void>;
  list(filter: { merchantId?: string; status?: DeliveryStatus; limit: number }): Promise<DeliveryInfo[]>;
  /** Pending deliveries and when the oldest was queued. */
  backlog(): Promise<{ pending: number; oldestCreatedAt: string | null }>;
  eventsToReplay(merchantId: string, opts: { since?: string; type?: string; limit: number }): Promise<Array<{ seq: number; id: string; createdAt: string }>>;
}

export interface StoredResponse {
  status: number;
  body: unknown;
}

/** Merchant requests by Idempotency-Key, written in the transaction of the change they made. */
export interface IdempotencyRepository {
  /** The stored response, or throws `idempotency_conflict` when the key was used for another request. */
  lookup(merchantId: string, key: string, hash: Buffer): Promise<StoredResponse | undefined>;
  save(merchantId: string, key: string, hash: Buffer, response: StoredResponse): Promise<void>;
  /** Drops keys recorded before `cutoff`; returns how many. */
  prune(cutoff: Date): Promise<number>;
}

/** Call records (CDRs) per dial attempt, and the wrong-PIN tally behind the lockout. */
export interface CallRecordRepository {
  recordAttempt(paymentId: string, attempt: number, r: CallRecord): Promise<void>;
  attempts(paymentId: string): Promise<Array<CallRecord & { attempt: number }>>;
  /**
   * Call records for merchants and operators: one payment's in attempt order, otherwise newest
   * first. Never the digits; the number only masked.
   */
  list(filter: CallAttemptFilter): Promise<CallAttempt[]>;
  /** Records a wrong PIN; returns how many the consumer has keyed within the window. */
  recordPinFailure(consumerId: string, paymentId: string | null, windowMs: number): Promise<number>;
  clearPinFailures(consumerId: string): Promise<void>;
}

/** Every dial attempt, for the toll-fraud caps (the number only as a keyed hash). */
export interface DialRepository {
  record(d: { paymentId: string; attempt: number; consumerId: string; merchantId: string; number: string }): Promise<void>;
  /** Dials since `since` to a consumer, for a merchant, or to a number (E.164). */
  countSince(by: { consumerId: string } | { merchantId: string } | { number: string }, since: Date): Promise<number>;
}

/** Sliding-window attempt counts per scope and key (login, client address), kept across restarts. */
export interface AttemptLimitRepository {
  count(scope: string, key: string, windowMs: number): Promise<number>;
  /** The oldest attempt still in the window (ISO time), or null. */
  oldest(scope: string, key: string, windowMs: number): Promise<string | null>;
  add(scope: string, key: string): Promise<void>;
  /** Gives back the newest attempt of the key. */
  refund(scope: string, key: string): Promise<void>;
  clear(scope: string, key: string): Promise<void>;
  prune(before: Date): Promise<number>;
}

export interface WebhookSecretRepository {
  create(merchantId: string): Promise<string>;
  rotate(merchantId: string, overlapHours: number): Promise<string>;
  /** Newest first; more than one during a rotation's overlap. */
  active(merchantId: string): Promise<string[]>;
}

/** Read models for the carrier's bill and the merchants' settlement. */
export interface BillingRepository {
  /** Every charge and refund billed in `cycle`, by account then time, read consistently. */
  billRows(cycle: string): Promise<BillLine[]>;
  /** A merchant's charges and refunds in `cycle` per currency; `not_found` for an unknown merchant. */
  settlement(merchantId: string, cycle: string): Promise<{ merchantName: string; rows: SettlementRow[] }>;
}

/** The operator audit log: append-only, hash-chained under a key the database does not hold. */
export interface AuditRepository {
  /** `checkpoint`: also record an unkeyed digest of every earlier row (a key rotation's last entry). */
  append(input: AuditInput, opts?: { checkpoint?: boolean }): Promise<AuditEntry>;
  list(opts: { limit: number; after?: number; subject?: string }): Promise<AuditEntry[]>;
  verify(): Promise<AuditVerdict>;
}

/** Fraud reported on calls (one per payment), and the frictionless-allowance locks they leave. */
export interface FraudRepository {
  /**
   * Records a report (a payment's second report is not counted again) and returns how many the
   * merchant has at or after `sinceIso`, this one included. Concurrent reports for one merchant are
   * counted one after the other, so the one that reaches a threshold sees it.
   */
  record(report: FraudReport, sinceIso: string): Promise<number>;
  /** Newest first. */
  list(filter: FraudReportFilter): Promise<FraudReport[]>;
  /** Locks (or keeps locked) the consumer's frictionless allowance; the first lock's time and payment stay. */
  lockAllowance(lock: AllowanceLock): Promise<void>;
  allowanceLock(consumerId: string): Promise<AllowanceLock | undefined>;
  /** Turns the allowance back on; whether it was locked. */
  unlockAllowance(consumerId: string): Promise<boolean>;
}

export interface Repositories {
  payments: PaymentRepository;
  consumers: ConsumerRepository;
  accounts: AccountRepository;
  merchants: MerchantRepository;
  ledger: LedgerRepository;
  events: EventRepository;
  deliveries: DeliveryRepository;
  idempotency: IdempotencyRepository;
  callRecords: CallRecordRepository;
  dials: DialRepository;
  attemptLimits: AttemptLimitRepository;
  webhookSecrets: WebhookSecretRepository;
  billing: BillingRepository;
  audit: AuditRepository;
  fraud: FraudRepository;
}

/** Repositories bound to one open transaction. */
export interface Transaction extends Repositories {
  /** A nested unit (a savepoint): its failure undoes only its own writes. */
  withTransaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Runs after the outermost transaction commits (never if it rolls back): start a call, wake a page. */
  afterCommit(fn: () => void): void;
}

/** The transaction port: all writes of one state change commit together or not at all. */
export interface TransactionPort {
  withTransaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
}

/** A store implementation (SQLite embedded, PostgreSQL for clusters). */
export interface Store extends Repositories, TransactionPort {
  /** Which implementation, for logs and `doctor`. */
  readonly driver: string;
  /** Several nodes may use this database at once (PostgreSQL): calls are recovered by lease, not at start. */
  readonly shared: boolean;
  /** Key rotation: which values are under which master key, and moving them to the current one. */
  readonly keys: KeyMaintenance;
  close(): Promise<void>;
}
