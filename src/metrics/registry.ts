import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * callpay's Prometheus metrics (issue 13, item 1). Labels are bounded sets only: statuses, failure
 * codes, call outcomes, SIP status codes, HTTP routes as declared (never the URL as sent), and the
 * merchant id only when the operator enables `admin.merchantLabels`. No payment id, number or free
 * text ever becomes a label.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly merchantLabels: boolean;
  paymentsCreated: Counter<'status' | 'merchant'>;
  paymentsEnded: Counter<'status' | 'reason' | 'merchant'>;
  calls: Counter<'outcome' | 'sip_status'>;
  callSetup: Histogram<'outcome'>;
  callDuration: Histogram;
  pinEntry: Histogram;
  callsLive: Gauge;
  pinVerifications: Counter<'result'>;
  lockouts: Counter;
  webhookDeliveries: Counter<'result'>;
  httpRequests: Counter<'route' | 'method' | 'status'>;
  httpDuration: Histogram<'route' | 'method'>;
}

export function createMetrics(opts: { merchantLabels: boolean }): Metrics {
  const registry = new Registry();
  // Process CPU and memory, heap, GC, and the event loop's delay (nodejs_eventloop_lag_*).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const r = [registry];
  const merchant = opts.merchantLabels ? (['merchant'] as const) : ([] as const);
  return {
    registry,
    merchantLabels: opts.merchantLabels,
    paymentsCreated: new Counter({ name: 'callpay_payments_created_total', help: 'Payments created, by their first status', labelNames: ['status', ...merchant], registers: r }),
    paymentsEnded: new Counter({ name: 'callpay_payments_ended_total', help: 'Payments that reached a final status, by status and failure code (reason "none" on success)', labelNames: ['status', 'reason', ...merchant], registers: r }),
    calls: new Counter({ name: 'callpay_calls_total', help: 'Authorization call attempts that ended, by outcome (answered, busy, no_answer, rejected, failed, hung_up, machine_detected) and final SIP status (answer-seizure ratio: outcome answered, hung_up or machine_detected over all)', labelNames: ['outcome', 'sip_status'], registers: r }),
    callSetup: new Histogram({ name: 'callpay_call_setup_seconds', help: 'Dial to answer (answered) or to the final response (not answered)', labelNames: ['outcome'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 45, 60], registers: r }),
    callDuration: new Histogram({ name: 'callpay_call_duration_seconds', help: 'Answer to hang-up of answered calls', buckets: [5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300], registers: r }),
    pinEntry: new Histogram({ name: 'callpay_pin_entry_seconds', help: 'Answer to the first PIN checked on the call', buckets: [2, 4, 6, 8, 10, 15, 20, 30, 45, 60], registers: r }),
    callsLive: new Gauge({ name: 'callpay_calls_live', help: 'Answered authorization calls in progress', registers: r }),
    pinVerifications: new Counter({ name: 'callpay_pin_verifications_total', help: 'PINs checked on calls, by result', labelNames: ['result'], registers: r }),
    lockouts: new Counter({ name: 'callpay_pin_lockouts_total', help: 'Consumers locked for too many wrong PINs', registers: r }),
    webhookDeliveries: new Counter({ name: 'callpay_webhook_deliveries_total', help: 'Webhook delivery attempts, by result (delivered, retry, failed = given up)', labelNames: ['result'], registers: r }),
    httpRequests: new Counter({ name: 'callpay_http_requests_total', help: 'HTTP requests on the public listener, by route, method and status', labelNames: ['route', 'method', 'status'], registers: r }),
    httpDuration: new Histogram({ name: 'callpay_http_request_duration_seconds', help: 'HTTP request latency on the public listener', labelNames: ['route', 'method'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: r }),
  };
}
