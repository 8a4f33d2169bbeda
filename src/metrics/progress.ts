import type { ProgressHub } from '../payments/progress.js';
import type { Metrics } from './registry.js';

/** PIN-entry time: from the answer to the first PIN checked on that call, from the progress the checkout page sees. */
export function observeProgress(progress: ProgressHub, m: Metrics): () => void {
  const answeredAt = new Map<string, number>();
  return progress.observe((paymentId, e) => {
    if (e.type === 'answered') {
      if (answeredAt.size >= 10_000) answeredAt.delete(answeredAt.keys().next().value as string);
      answeredAt.set(paymentId, Date.parse(e.at));
    } else if (e.type === 'pin') {
      const at = answeredAt.get(paymentId);
      if (at === undefined) return;
      answeredAt.delete(paymentId);
      m.pinEntry.observe(Math.max(0, (Date.parse(e.at) - at) / 1000));
    } else if (e.type === 'not_answered' || e.type === 'status') {
      answeredAt.delete(paymentId);
    }
  });
}
