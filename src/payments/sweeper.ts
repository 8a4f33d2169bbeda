import type { Db } from '../store/db.js';
import type { Logger } from '../log.js';
import type { PaymentRepository } from '../store/payments.js';
import type { PaymentCore } from './service.js';
import type { CallRunner } from './calls.js';
import type { Clock } from '../domain/clock.js';

export interface SweeperDeps {
  db: Db;
  clock: Clock;
  payments: PaymentRepository;
  core: PaymentCore;
  calls: CallRunner;
  log: Logger;
  intervalMs: number;
  idempotencyRetentionDays: number;
  /** How long past its expiry a payment may stay in a call before it is expired anyway. */
  callGraceMs: number;
}

/**
 * Start-up recovery, and a periodic sweep that expires payments (releasing their holds) and drops
 * idempotency keys past their retention.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly d: SweeperDeps) {}

  /**
   * After a restart no call is in progress. A payment whose PIN was verified is charged (once: the
   * charge is idempotent); one that was mid-call is failed as interrupted and its hold released.
   */
  recover(): void {
    for (const p of this.d.payments.calling()) {
      if (this.d.calls.isCalling(p.id)) continue;
      if (p.authorizedAt) {
        this.d.core.charge(p.id, 'authorized by call (charge completed after restart)');
        this.d.log.warn({ paymentId: p.id }, 'recovered an approved payment: charged');
      } else {
        this.d.core.end(p, 'failed', 'interrupted', 'call interrupted by a restart');
        this.d.log.warn({ paymentId: p.id }, 'recovered an interrupted call: failed, hold released');
      }
    }
  }

  start(): void {
    const tick = () => {
      this.running = this.sweep().finally(() => {
        this.running = undefined;
        if (this.timer) this.timer = setTimeout(tick, this.d.intervalMs).unref();
      });
    };
    this.timer = setTimeout(tick, this.d.intervalMs).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  async sweep(): Promise<void> {
    const now = this.d.clock();
    for (const p of this.d.payments.dueForExpiry(now, this.d.callGraceMs)) {
      if (this.d.calls.isCalling(p.id)) {
        this.d.calls.expire(p.id);
        continue;
      }
      try {
        if (p.status === 'calling' && p.authorizedAt) this.d.core.charge(p.id, 'authorized by call');
        else this.d.core.end(p, 'expired', null, 'expired before authorization');
      } catch (e) {
        this.d.log.warn({ paymentId: p.id, err: e }, 'expiry skipped (state changed meanwhile)');
      }
    }
    const cutoff = new Date(now.getTime() - this.d.idempotencyRetentionDays * 86_400_000).toISOString();
    this.d.db.prepare('DELETE FROM idempotency_keys WHERE created_at < ?').run(cutoff);
  }
}
