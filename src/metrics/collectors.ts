import { statSync } from 'node:fs';
import { Gauge } from 'prom-client';
import type { Store } from '../payments/repositories.js';
import type { MediaStats } from '../telephony/engine.js';
import type { Metrics } from './registry.js';

/** What the media worker reports (the embedded engine). */
export type MediaStatsSource = () => Promise<MediaStats | null>;

/** Values read when Prometheus scrapes: the webhook outbox, the SQLite WAL, the media worker. */
export function registerCollectors(m: Metrics, d: { store: Store; databasePath: string | null; media: MediaStatsSource | null; now: () => Date }): void {
  const r = [m.registry];
  // One query per scrape, shared by the two outbox gauges.
  const backlog = once(() => d.store.deliveries.backlog());
  new Gauge({
    name: 'callpay_webhook_outbox_pending', help: 'Webhook deliveries waiting to be sent or retried', registers: r,
    async collect() {
      this.set((await backlog()).pending);
    },
  });
  new Gauge({
    name: 'callpay_webhook_outbox_oldest_age_seconds', help: 'Age of the oldest pending webhook delivery (0 when none)', registers: r,
    async collect() {
      const { oldestCreatedAt } = await backlog();
      this.set(oldestCreatedAt === null ? 0 : Math.max(0, (d.now().getTime() - Date.parse(oldestCreatedAt)) / 1000));
    },
  });
  const databasePath = d.databasePath;
  if (databasePath !== null) {
    new Gauge({
      name: 'callpay_sqlite_wal_bytes', help: 'Size of the SQLite write-ahead log (grows when checkpoints fall behind)', registers: r,
      collect() {
        try {
          this.set(statSync(`${databasePath}-wal`).size);
        } catch {
          this.set(0); // no WAL file right now: checkpointed and removed
        }
      },
    });
  }
  const media = d.media;
  if (media === null) return;
  // One read per scrape, shared by the gauges below (the interval summary resets on each read).
  const read = once(media);
  const gauge = (name: string, help: string, pick: (s: MediaStats) => number, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers: r, async collect() {
      const s = await read();
      if (s) this.set(pick(s));
    } });
  gauge('callpay_media_sessions', 'RTP sessions open in the media worker', (s) => s.sessions);
  gauge('callpay_media_packets_sent', 'RTP packets sent since start', (s) => s.sent);
  gauge('callpay_media_packets_ignored', 'RTP packets dropped since start (wrong source, payload type, malformed)', (s) => s.ignored);
  gauge('callpay_media_late_resyncs', 'Times the pacer fell behind and skipped ahead, since start (late packets)', (s) => s.resyncs);
  gauge('callpay_media_rtcp_sent', 'RTCP compound packets sent since start', (s) => s.rtcpSent);
  new Gauge({
    name: 'callpay_media_send_interval_ms', help: 'Interval between consecutive RTP sends of one stream since the last scrape (target 20 ms)', labelNames: ['quantile'], registers: r,
    async collect() {
      const s = await read();
      if (!s || s.sendIntervalMs.count === 0) return;
      this.set({ quantile: '0.5' }, s.sendIntervalMs.p50);
      this.set({ quantile: '0.99' }, s.sendIntervalMs.p99);
      this.set({ quantile: '1' }, s.sendIntervalMs.max);
    },
  });
}

/** Calls within one scrape (the gauges collect in the same tick) share one read; the next scrape reads afresh. */
function once<T>(read: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | null = null;
  return () => (pending ??= read().finally(() => setImmediate(() => (pending = null))));
}
