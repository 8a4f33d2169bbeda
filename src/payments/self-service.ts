import type { Clock } from '../domain/clock.js';
import type { AuditAction, AuditDetails } from '../domain/audit.js';
import type { Consumer, ConsumerPolicy } from '../domain/consumer.js';
import { parsePhone } from '../domain/phone.js';
import type { Logger } from '../log.js';
import type { Store, Transaction } from './repositories.js';
import type { SecretVerifier } from './service.js';
import { checkPinWithLockout, type PinVerdict } from './pin-check.js';

/**
 * What a consumer may do by calling in (issue 16 item 2): be identified by the enrolled number and
 * the PIN, hear recent payments, change the PIN, tighten (never loosen) the policy, lock payments and
 * unlock them only when they locked them themselves. The one place these rules live; the IVR menu
 * (ivr/self-service.ts) only asks and says. Every change is one transaction with its audit entry
 * (actor "self-service"), then announced to the ConsumerChangeNotifier. Slow work (Argon2id, in the
 * hasher's worker threads) happens before those transactions.
 */

/** Who the engine says is calling. */
export interface InboundCaller {
  from: string | null;
  asserted: string | null;
  trustedSource: boolean;
}

export type SelfChange =
  | { kind: 'pin' }
  | { kind: 'policy'; changed: Array<keyof ConsumerPolicy> }
  | { kind: 'lock' }
  | { kind: 'unlock' };

/** Told of every change a consumer made by phone (ids and field names only). */
export interface ConsumerChangeNotifier {
  consumerChanged(event: { consumerId: string; change: SelfChange; at: string; via: 'self_service_call' }): void;
}

export type { PinVerdict } from './pin-check.js';
export type LimitField = 'callAbove' | 'passwordAbove';

export interface RecentPayment {
  merchantName: string;
  merchantVoiceClip: string | null;
  amount: number;
  currency: string;
  createdAt: string;
}

export interface SelfServiceDeps {
  store: Store;
  hasher: SecretVerifier;
  clock: Clock;
  log: Logger;
  /** The same lockout as the authorization call's (config ivr.lockoutAttempts / lockoutWindowHours). */
  lockout: { attempts: number; windowMs: number };
  notifier: ConsumerChangeNotifier;
}

export const SELF_SERVICE_ACTOR = 'self-service';

/** Status changes that decide who locked a consumer last (the audit log is the record of it). */
const LOCKING: readonly AuditAction[] = ['consumer.lock', 'consumer.unlock', 'consumer.close', 'consumer.self_lock', 'consumer.self_unlock'];
const AUDIT_PAGE = 500;

export class SelfServiceDesk {
  constructor(private readonly d: SelfServiceDeps) {}

  /**
   * The consumer a call is from, or null: the caller must come through a trusted trunk, whose
   * P-Asserted-Identity (else From) names exactly one enrolled consumer that is active, or locked by
   * their own choice. Anyone else gets the same refusal, whatever the reason.
   */
  async identify(caller: InboundCaller): Promise<Consumer | null> {
    if (!caller.trustedSource) return null;
    const claimed = caller.asserted ?? caller.from;
    if (claimed === null) return null;
    let e164: string;
    try {
      // Trunks often send the international number without its "+" (886912345678).
      e164 = parsePhone(/^\d+$/.test(claimed) ? `+${claimed}` : claimed).e164;
    } catch {
      return null;
    }
    const found = (await this.d.store.consumers.findByPhone(e164)).filter((c) => c.status !== 'closed');
    // A line shared by several consumers cannot tell them apart before the PIN: none is served.
    if (found.length !== 1) return null;
    const consumer = found[0]!;
    if (consumer.status === 'active') return consumer;
    return consumer.status === 'locked' && (await this.selfLocked(consumer.id)) ? consumer : null;
  }

  /** Locked, and the last lock or unlock was the consumer's own (not an operator's, not the PIN lockout). */
  async selfLocked(consumerId: string): Promise<boolean> {
    const consumer = await this.d.store.consumers.get(consumerId);
    if (consumer.status !== 'locked') return false;
    let last: AuditAction | null = null;
    let after = 0;
    for (;;) {
      const page = await this.d.store.audit.list({ subject: consumerId, after, limit: AUDIT_PAGE });
      for (const e of page) if (LOCKING.includes(e.action)) last = e.action;
      if (page.length < AUDIT_PAGE) break;
      after = page.at(-1)!.seq;
    }
    return last === 'consumer.self_lock';
  }

  /**
   * A PIN keyed on a self-service call. Wrong ones count with the authorization call's (pin_failures,
   * no payment); reaching the limit locks the consumer, which ends a self-lock too (audited, so the
   * consumer cannot then unlock by phone).
   */
  checkPin(consumerId: string, pin: string): Promise<PinVerdict> {
    return checkPinWithLockout(this.d, consumerId, null, pin, 'wrong PINs on a self-service call');
  }

  async recentPayments(consumerId: string, limit: number): Promise<RecentPayment[]> {
    const payments = await this.d.store.payments.recentForConsumer(consumerId, limit);
    const merchants = new Map<string, { name: string; voiceClip: string | null }>();
    for (const p of payments) {
      if (merchants.has(p.merchantId)) continue;
      const m = await this.d.store.merchants.get(p.merchantId);
      merchants.set(p.merchantId, { name: m.spokenName, voiceClip: m.voiceClip });
    }
    return payments.map((p) => {
      const m = merchants.get(p.merchantId)!;
      return { merchantName: m.name, merchantVoiceClip: m.voiceClip, amount: p.amount - p.amountRefunded, currency: p.currency, createdAt: p.createdAt };
    });
  }

  /** 'same': the new PIN is the current one; nothing changed. The PIN's format is the caller's to check (parsePin). */
  async changePin(consumerId: string, pin: string): Promise<'changed' | 'same'> {
    const { store, hasher } = this.d;
    if (await hasher.verify(pin, await store.consumers.pinHash(consumerId))) return 'same';
    const pinHash = await hasher.hash(pin);
    await this.audited(consumerId, 'consumer.self_set_pin', {}, (tx) => tx.consumers.setPinHash(consumerId, pinHash));
    this.notify(consumerId, { kind: 'pin' });
    return 'changed';
  }

  /** Lowers one threshold (minor units); 'not_lower' when `amount` is not below the current one. */
  async lowerLimit(consumerId: string, field: LimitField, amount: number): Promise<'changed' | 'not_lower'> {
    const changed = await this.d.store.withTransaction(async (tx) => {
      const policy = (await tx.consumers.get(consumerId)).policy;
      if (!Number.isSafeInteger(amount) || amount < 0 || amount >= policy[field]) return false;
      await tx.consumers.setPolicy(consumerId, { ...policy, [field]: amount });
      await tx.audit.append({ actor: SELF_SERVICE_ACTOR, action: 'consumer.self_policy', subject: consumerId, details: { changed: [field], lowered: true } });
      return true;
    });
    if (!changed) return 'not_lower';
    this.notify(consumerId, { kind: 'policy', changed: [field] });
    return 'changed';
  }

  /** Turns the frictionless allowance off (every payment then needs its steps); 'already_off' when it was. */
  async frictionlessOff(consumerId: string): Promise<'changed' | 'already_off'> {
    const changed = await this.d.store.withTransaction(async (tx) => {
      const policy = (await tx.consumers.get(consumerId)).policy;
      if (policy.frictionlessAmount === null && policy.frictionlessCount === null) return false;
      await tx.consumers.setPolicy(consumerId, { ...policy, frictionlessAmount: null, frictionlessCount: null });
      await tx.audit.append({ actor: SELF_SERVICE_ACTOR, action: 'consumer.self_policy', subject: consumerId, details: { changed: ['frictionlessAmount', 'frictionlessCount'], lowered: true } });
      return true;
    });
    if (!changed) return 'already_off';
    this.notify(consumerId, { kind: 'policy', changed: ['frictionlessAmount', 'frictionlessCount'] });
    return 'changed';
  }

  async lock(consumerId: string): Promise<'locked' | 'not_active'> {
    const done = await this.d.store.withTransaction(async (tx) => {
      if ((await tx.consumers.get(consumerId)).status !== 'active') return false;
      await tx.consumers.setStatus(consumerId, 'locked');
      await tx.audit.append({ actor: SELF_SERVICE_ACTOR, action: 'consumer.self_lock', subject: consumerId, details: { from: 'active', to: 'locked' } });
      return true;
    });
    if (!done) return 'not_active';
    this.notify(consumerId, { kind: 'lock' });
    return 'locked';
  }

  /** Only a lock the consumer set by phone; an operator's or the PIN lockout's stays. */
  async unlock(consumerId: string): Promise<'unlocked' | 'not_self_locked'> {
    if (!(await this.selfLocked(consumerId))) return 'not_self_locked';
    const done = await this.d.store.withTransaction(async (tx) => {
      if ((await tx.consumers.get(consumerId)).status !== 'locked') return false;
      await tx.consumers.setStatus(consumerId, 'active');
      await tx.audit.append({ actor: SELF_SERVICE_ACTOR, action: 'consumer.self_unlock', subject: consumerId, details: { from: 'locked', to: 'active' } });
      return true;
    });
    if (!done) return 'not_self_locked';
    this.notify(consumerId, { kind: 'unlock' });
    return 'unlocked';
  }

  private async audited(consumerId: string, action: AuditAction, details: AuditDetails, change: (tx: Transaction) => Promise<unknown>): Promise<void> {
    await this.d.store.withTransaction(async (tx) => {
      await change(tx);
      await tx.audit.append({ actor: SELF_SERVICE_ACTOR, action, subject: consumerId, details });
    });
  }

  private notify(consumerId: string, change: SelfChange): void {
    try {
      this.d.notifier.consumerChanged({ consumerId, change, at: this.d.clock().toISOString(), via: 'self_service_call' });
    } catch (err) {
      this.d.log.error({ err, consumerId }, 'consumer change notifier failed');
    }
  }
}
