import { isDeepStrictEqual } from 'node:util';
import { request, type Answer } from '../../bench/soak/client.js';
import type { PaymentBody, Sent } from '../../bench/soak/journal.js';

/**
 * What a cluster test asks of two nodes at once: a checkout page's live events on one node while the
 * other places the call, and one Idempotency-Key sent to both at the same moment.
 */

export interface StreamSeen {
  /** `type` of every `progress` event, in order. */
  progress: string[];
  /** `status` of every `status` event, in order. */
  statuses: string[];
  /** Why reading stopped. */
  end: 'wanted' | 'closed' | 'timeout';
}

/**
 * Reads a checkout page's server-sent events (`/checkout/:id/events?token=…` on `base`) until every
 * progress type in `want` has come, the server ends the stream, or `timeoutMs` passes.
 */
export async function readCheckoutEvents(base: string, checkoutUrl: string, want: readonly string[], timeoutMs: number): Promise<StreamSeen> {
  const page = new URL(checkoutUrl);
  const url = `${base}${page.pathname}/events${page.search}`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const seen: StreamSeen = { progress: [], statuses: [], end: 'timeout' };
  const done = () => want.every((t) => seen.progress.includes(t));
  try {
    const res = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
    if (res.status !== 200 || !res.body) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) {
        seen.end = 'closed';
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        record(buffer.slice(0, cut), seen);
        buffer = buffer.slice(cut + 2);
      }
      if (done()) {
        seen.end = 'wanted';
        await reader.cancel();
        break;
      }
    }
  } catch (e) {
    if (!abort.signal.aborted) throw e;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return seen;
}

function record(block: string, seen: StreamSeen): void {
  const event = /^event: (\S+)$/m.exec(block)?.[1];
  const data = /^data: (.*)$/m.exec(block)?.[1];
  if (!event || data === undefined) return;
  const parsed = JSON.parse(data) as { type?: unknown; status?: unknown };
  if (event === 'progress' && typeof parsed.type === 'string') seen.progress.push(parsed.type);
  if (event === 'status' && typeof parsed.status === 'string') seen.statuses.push(parsed.status);
}

export interface Race {
  key: string;
  answers: Answer[];
  /** Every answer a 201 with the same body (the payment itself, or its stored replay). */
  same: boolean;
}

/** The same POST (key and body) to every base at once. */
export async function raceKey(bases: readonly string[], apiKey: string, sent: Sent<PaymentBody>): Promise<Race> {
  const signal = AbortSignal.timeout(20_000);
  const answers = await Promise.all(
    bases.map((base) => request(base, sent.path, { method: 'POST', apiKey, idempotencyKey: sent.key, body: sent.body, signal })),
  );
  const first = answers[0];
  const same = first?.kind === 'ok' && answers.every((a) => a.kind === 'ok' && a.status === 201 && isDeepStrictEqual(a.body, first.body));
  return { key: sent.key, answers, same };
}
