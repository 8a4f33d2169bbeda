// The merchant's side of the API, as the soak uses it: every answer is classified, and a request
// that got no answer (the daemon died under it) is "lost": the merchant cannot know if it happened.

export type Answer =
  | { kind: 'ok'; status: number; body: any; replayed: boolean }
  /** 4xx that the flow can legitimately produce (the refusal is an answer, not a write). */
  | { kind: 'refused'; status: number; code: string; replayed: boolean }
  /** 5xx or a 4xx the soak's requests should never get. */
  | { kind: 'unexpected'; status: number; text: string }
  /** No answer. `sent` is false when the request provably never reached the daemon (refused connection). */
  | { kind: 'lost'; error: string; sent: boolean };

/** Business refusals the soak's flows may meet (refunding a payment twice over, canceling a moved one). */
const EXPECTED_REFUSALS = new Set(['invalid_state', 'refund_exceeds_charge']);

export interface RequestOptions {
  method: 'GET' | 'POST';
  apiKey: string;
  idempotencyKey?: string;
  body?: unknown;
  signal: AbortSignal;
  timeoutMs?: number;
}

export async function request(base: string, path: string, o: RequestOptions): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${o.apiKey}` };
  if (o.idempotencyKey !== undefined) headers['idempotency-key'] = o.idempotencyKey;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${base}${path}`, {
      method: o.method,
      headers,
      ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
      signal: AbortSignal.any([o.signal, AbortSignal.timeout(o.timeoutMs ?? 15_000)]),
    });
    text = await res.text();
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    return { kind: 'lost', error: cause ?? (e instanceof Error ? e.name : String(e)), sent: cause !== 'ECONNREFUSED' };
  }
  let body: any;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    return { kind: 'unexpected', status: res.status, text: text.slice(0, 300) };
  }
  if (res.status >= 200 && res.status < 300) return { kind: 'ok', status: res.status, body, replayed: res.headers.get('idempotent-replayed') === 'true' };
  const code = String(body?.error?.code ?? '');
  if (res.status >= 400 && res.status < 500 && EXPECTED_REFUSALS.has(code)) return { kind: 'refused', status: res.status, code, replayed: res.headers.get('idempotent-replayed') === 'true' };
  return { kind: 'unexpected', status: res.status, text: text.slice(0, 300) };
}
