import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { AppContext } from './context.js';
import { createAuthorizer } from './engines.js';
import type { CallEngine } from '../telephony/engine.js';
import { STRICT_CEILINGS } from '../domain/policy.js';
import type { Store } from '../payments/repositories.js';
import { PaymentService, type PaymentHooks } from '../payments/service.js';
import type { CallRunner } from '../payments/calls.js';
import { ProgressHub } from '../payments/progress.js';
import { Sweeper } from '../payments/sweeper.js';
import type { CallAuthorizer } from '../payments/ports.js';
import { createIntakeListener } from '../intake/app.js';
import { createWebhookDispatcher, type WebhookDispatcher } from '../notify/dispatcher.js';
import { createCheckout, checkoutPath } from '../checkout/index.js';
import { createMetrics } from '../metrics/registry.js';
import { instrumentStore } from '../metrics/instrument-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { startBackgroundCheckpoints } from '../store/checkpointer.js';
import { observeHttp } from '../metrics/http.js';
import { observeProgress } from '../metrics/progress.js';
import { registerCollectors } from '../metrics/collectors.js';
import { startAdminServer, type AdminServer } from '../metrics/admin.js';
import { startProgressBus } from './progress-bus.js';
import { riskCheckFromConfig } from '../risk/from-config.js';
import { attachSelfService, type SelfService } from './self-service.js';

export interface Daemon {
  url: string;
  server: Server;
  payments: PaymentService;
  calls: CallRunner;
  sweeper: Sweeper;
  dispatcher: WebhookDispatcher;
  progress: ProgressHub;
  store: Store;
  /** The admin listener (GET /metrics), or null when `admin.enabled` is false. */
  adminUrl: string | null;
  /** Stops accepting, finishes in-flight work (calls, deliveries), then closes the stores. */
  stop(): Promise<void>;
}

export interface DaemonOptions {
  /** Replaces the configured engine (tests use a scripted one). */
  authorizer?: CallAuthorizer;
  /** How long a call may run past its payment's expiry before the sweeper expires it anyway. */
  callGraceMs?: number;
  /** Fault-injection seams for tests (e.g. dying between a PIN approval and its charge). */
  hooks?: PaymentHooks;
}

/** This process among the nodes on one store: host, pid and a random part (a restarted pid is another node). */
function nodeId(): string {
  return `${hostname().replace(/[^\w.-]/g, '_').slice(0, 48)}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** The composition root of `callpay serve`: engine, payment service, sweeper, dispatcher, HTTP. */
export async function startDaemon(ctx: AppContext, opts: DaemonOptions = {}): Promise<Daemon> {
  const { config, log } = ctx;
  const { clock } = ctx;
  // Metrics observe at the store port, the HTTP server and the progress hub: nothing else changes.
  const metrics = config.admin.enabled ? createMetrics({ merchantLabels: config.admin.merchantLabels }) : null;
  const store = metrics ? instrumentStore(ctx.store, metrics) : ctx.store;
  let engine: CallEngine | undefined;
  const authorizer = opts.authorizer ?? (await createAuthorizer({ config, log, clock, onEngine: (e) => (engine = e) }));
  // Calls to us (consumer self-service) need the configured telephone engine; a test's scripted authorizer has none.
  let selfService: SelfService | undefined;
  if (config.selfService.enabled && engine) {
    const e: CallEngine = engine;
    selfService = await attachSelfService({ config, engine: e, store, hasher: ctx.hasher, clock, log }).catch(async (err: unknown) => {
      await e.close(); // started for nothing: its sockets and workers must not outlive the failed start
      throw err;
    });
  }
  const progress = new ProgressHub(clock);
  const node = { id: nodeId(), callLeaseMs: config.store.callLeaseSeconds * 1000 };
  const preDial = riskCheckFromConfig(config.risk, { clock, ...(metrics ? { registry: metrics.registry } : {}) });
  const payments = new PaymentService({
    store, clock, log, authorizer, progress,
    hasher: ctx.hasher,
    ceilings: (currency) => config.policy.ceilings[currency as keyof typeof config.policy.ceilings] ?? STRICT_CEILINGS,
    expiresInSeconds: config.payments.expiresInSeconds,
    callCaps: {
      perConsumerPerHour: config.ivr.maxCallsPerConsumerPerHour,
      perMerchantPerHour: config.ivr.maxCallsPerMerchantPerHour,
      perNumberPerHour: config.ivr.maxCallsPerNumberPerHour,
    },
    lockout: { attempts: config.ivr.lockoutAttempts, windowMs: config.ivr.lockoutWindowHours * 3_600_000 },
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
    ...(preDial ? { preDial } : {}),
    fraudReports: config.risk.fraudReports,
    node,
  });
  const bus = startProgressBus({ config, store: ctx.store, node: node.id, hub: progress, log });
  const sweeper = new Sweeper({
    clock, payments, log,
    idempotency: store.idempotency,
    attemptLimits: store.attemptLimits,
    intervalMs: config.payments.sweepIntervalMs,
    idempotencyRetentionDays: config.payments.idempotencyRetentionDays,
    callGraceMs: opts.callGraceMs ?? 300_000,
  });
  const dispatcher = createWebhookDispatcher({
    deliveries: store.deliveries,
    secrets: store.webhookSecrets,
    clock, log,
    timeoutMs: config.webhooks.timeoutMs,
    pollIntervalMs: config.webhooks.pollIntervalMs,
  });
  await sweeper.recover();

  let ready = false;
  const publicUrl = config.http.publicUrl.replace(/\/$/, '');
  const checkout = createCheckout({
    payments, store, progress, clock, log, publicUrl,
    keyring: ctx.keyring,
    defaultCurrency: config.currency,
    timeZone: config.billing.timeZone,
  });
  const intake = createIntakeListener({
    store, payments, log, clock,
    defaultCurrency: config.currency,
    rateLimit: config.rateLimit,
    trustedProxies: config.http.trustedProxies,
    api: {
      checkoutUrl: (id) => `${publicUrl}${checkoutPath(ctx.keyring, id)}`,
      pollIntervalSeconds: config.payments.pollIntervalSeconds,
      now: clock,
    },
    ready: () => ready && (engine?.healthy?.() ?? true),
    checkout: checkout.router,
  });
  const server = createServer(intake);
  let admin: AdminServer | null = null;
  if (metrics) {
    observeHttp(server, metrics);
    observeProgress(progress, metrics);
    registerCollectors(metrics, {
      store, now: clock,
      databasePath: store.driver === 'sqlite' ? config.database : null,
      media: () => engine?.mediaStats?.() ?? Promise.resolve(null),
    });
    admin = await startAdminServer({ host: config.admin.host, port: config.admin.port, metrics, log });
  }
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
  // While serving, the embedded store's WAL checkpoints run on a thread of their own (store/checkpointer.ts).
  const checkpoints = ctx.store instanceof SqliteStore ? startBackgroundCheckpoints(ctx.store.db, config.database, { log }) : undefined;
  log.info({ url: `http://${host}:${address.port}`, engine: authorizer.live ? config.telephony.engine : 'simulated (not live)', store: store.driver }, 'callpay serving');

  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    server, payments, sweeper, dispatcher, progress, store,
    adminUrl: admin?.url ?? null,
    calls: payments.calls,
    stop() {
      stopping ??= (async () => {
        ready = false;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        checkout.close();
        server.closeIdleConnections();
        await payments.calls.drain(60_000);
        await Promise.all([sweeper.stop(), dispatcher.stop(), closed, bus?.close()]);
        await authorizer.close();
        await selfService?.stop(); // no call is left to change anything: a last try for pending notifications
        await admin?.close();
        await checkpoints?.stop();
        log.info('callpay stopped');
      })();
      return stopping;
    },
  };
}
