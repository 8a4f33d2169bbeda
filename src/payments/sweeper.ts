import type { Clock } from '../domain/clock.js';
import type { Logger } from '../log.js';
import type { AttemptLimitRepository, IdempotencyRepository } from './repositories.js';
import type { PaymentService } from './service.js';

export interface SweeperDeps {
  clock: Clock;
  payments: PaymentService;
  idempotency: IdempotencyRepository;
  attemptLimits: AttemptLimitRepository;
  log: Logger;
  intervalMs: number;
  idempotencyRetentionDays: number;
  /** How long past its expiry a payment may stay in a call before it is expired anyway. */
  callGraceMs: number;
}

/**
 * Start-up recovery, and a periodic sweep that expires payments (releasing their holds) and drops
 * idempotency keys and checkout attempt counts past their retention.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly d: SweeperDeps) {}

  /** After a restart: finish approved payments, fail interrupted calls (see PaymentService.recover). */
  recover(): Promise<void> {
    return this.d.payments.recover({ atStart: true });
  }

  start(): void {
    const tick = () => {
      this.running = this.sweep()
        .catch((e: unknown) => this.d.log.error({ err: e }, 'sweep failed'))
        .finally(() => {
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
    // Calls of a node that died (shared store) or lost the database for longer than a lease.
    await this.d.payments.recover({ atStart: false });
    await this.d.payments.expireDue(this.d.callGraceMs);
    const cutoff = new Date(this.d.clock().getTime() - this.d.idempotencyRetentionDays * 86_400_000);
    await this.d.idempotency.prune(cutoff);
    // The checkout's attempt windows are at most an hour; a day keeps every window whole.
    await this.d.attemptLimits.prune(new Date(this.d.clock().getTime() - 86_400_000));
  }
}
