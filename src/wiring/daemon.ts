import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AppContext } from './cli/context.js';

import { PaymentRepository } from './store/payments.js';
import { CallRepository } from './store/calls.js';
import { EventRepository } from './store/events.js';
import { WebhookSecretRepository } from './store/webhook-secrets.js';
import { PaymentCore } from './payments/service.js';
import { CallRunner } from './payments/calls.js';
import { ProgressHub } from './payments/progress.js';
import { Sweeper } from './payments/sweeper.js';
import { createAuthorizer } from './payments/authorizer.js';
import type { CallAuthorizer } from './payments/ports.js';
import { STRICT_CEILINGS } from './domain/policy.js';
import { IdempotencyStore } from './intake/idempotency.js';
import { createIntakeApp } from './intake/app.js';
import { createWebhookDispatcher, type WebhookDispatcher } from './notify/dispatcher.js';
import { createCheckout, checkoutPath } from './checkout/index.js';
import { systemClock, type Clock } from './domain/clock.js';

export interface Daemon {
  url: string;
  server: Server;
  core: PaymentCore;
  calls: CallRunner;
  sweeper: Sweeper;
  dispatcher: WebhookDispatcher;
  progress: ProgressHub;
  payments: PaymentRepository;
  events: EventRepository;
  /** Stops accepting, finishes in-flight work (calls, deliveries), then closes the stores. */
  stop(): Promise<void>;
}

export interface DaemonOptions {
  /** Replaces the configured engine (tests use a scripted one). */
  authorizer?: CallAuthorizer;
  clock?: Clock;
  /** Seconds a call may run past its payment's expiry before the sweeper expires it anyway. */
  callGraceMs?: number;
}

/** The composition root of `callpay serve`: stores, services, sweeper, dispatcher, HTTP. */
export async function startDaemon(ctx: AppContext, opts: DaemonOptions = {}): Promise<Daemon> {
  const { config, db, log } = ctx;
  const clock = opts.clock ?? systemClock;
  const authorizer = opts.authorizer ?? (await createAuthorizer(config, log, clock));
  const payments = new PaymentRepository(db, clock);
  const events = new EventRepository(db, clock, config.webhooks.retryForHours);
  const core = new PaymentCore({
    db, clock, payments, events, consumers: ctx.consumers, accounts: ctx.accounts, ledger: ctx.ledger,
    ceilings: (currency) => config.policy.ceilings[currency as keyof typeof config.policy.ceilings] ?? STRICT_CEILINGS,
    expiresInSeconds: config.payments.expiresInSeconds,
    live: authorizer.live,
    callCaps: { perConsumerPerHour: config.ivr.maxCallsPerConsumerPerHour, perMerchantPerHour: config.ivr.maxCallsPerMerchantPerHour },
  });
  const progress = new ProgressHub(clock);
  const calls = new CallRunner({
    core, payments, consumers: ctx.consumers, merchants: ctx.merchants, authorizer, hasher: ctx.hasher, log,
    calls: new CallRepository(db, clock),
    progress,
    lockout: { attempts: config.ivr.lockoutAttempts, windowMs: config.ivr.lockoutWindowHours * 3_600_000 },
    crashAfterApproval: config.debug.crashAfterApproval,
  });
  const sweeper = new Sweeper({
    db, clock, payments, core, calls, log,
    intervalMs: config.payments.sweepIntervalMs,
    idempotencyRetentionDays: config.payments.idempotencyRetentionDays,
    callGraceMs: opts.callGraceMs ?? 300_000,
  });
  const webhookSecrets = new WebhookSecretRepository(db, ctx.keyring, clock);
  const dispatcher = createWebhookDispatcher({
    db, clock, log,
    secrets: webhookSecrets,
    timeoutMs: config.webhooks.timeoutMs,
    pollIntervalMs: config.webhooks.pollIntervalMs,
  });
  sweeper.recover();

  let ready = false;
  const publicUrl = config.http.publicUrl.replace(/\/$/, '');
  const checkout = createCheckout({
    core, calls, payments, progress, webhookSecrets, clock, log, publicUrl,
    consumers: ctx.consumers, accounts: ctx.accounts, merchants: ctx.merchants, hasher: ctx.hasher, keyring: ctx.keyring,
    defaultCurrency: config.currency,
    timeZone: config.billing.timeZone,
  });
  const app = createIntakeApp({
    db, core, calls, payments, events, log, clock,
    merchants: ctx.merchants,
    idempotency: new IdempotencyStore(db, clock),
    defaultCurrency: config.currency,
    rateLimit: config.rateLimit,
    api: {
      checkoutUrl: (id) => `${publicUrl}${checkoutPath(ctx.keyring, id)}`,
      pollIntervalSeconds: config.payments.pollIntervalSeconds,
      now: clock,
    },
    ready: () => ready,
    checkout: checkout.router,
  });
  const server = createServer(app);
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  sweeper.start();
  dispatcher.start();
  ready = true;
  log.info({ url: `http://${host}:${address.port}`, engine: authorizer.live ? config.telephony.engine : 'simulated (not live)' }, 'callpay serving');

  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    server, core, calls, sweeper, dispatcher, progress, payments, events,
    stop() {
      stopping ??= (async () => {
        ready = false;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        checkout.close();
        server.closeIdleConnections();
        await calls.drain(60_000);
        await Promise.all([sweeper.stop(), dispatcher.stop(), closed]);
        await authorizer.close();
        log.info('callpay stopped');
      })();
      return stopping;
    },
  };
}
