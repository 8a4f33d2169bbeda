import { signatureHeader } from './signature.js';

export interface SignedPostRequest<T> {
  url: string;
  /** Newest first; one v1 signature each. */
  secrets: string[];
  /** Serialised once by the caller: these exact bytes are signed and sent. */
  body: string;
  /** The signature's `t`; the receiver refuses one more than 5 minutes off. */
  signedAt: Date;
  /** Besides Content-Type and Callpay-Signature: the request's id, User-Agent, … */
  headers: Record<string, string>;
  /** Connection to the answer's last byte read by `readAnswer`. */
  timeoutMs: number;
  /** The caller giving up (the payment ended, the hook closed). */
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
  /** Reads (or drops) the answer's body, inside the timeout; what it throws is a `failed` outcome. */
  readAnswer: (res: Response) => Promise<T>;
}

/** Expected outcomes are values; which of them is a failure, and how it is told, is the caller's. */
export type SignedPostOutcome<T> =
  | { kind: 'answered'; status: number; answer: T }
  | { kind: 'timeout' }
  | { kind: 'aborted' }
  | { kind: 'failed'; error: unknown };

/**
 * One signed POST to a carrier's hook (the consumer-change hook, the risk hook),
 * bounded by `timeoutMs`. Redirects are not followed: a 3xx comes back as an answer.
 */
export async function signedPost<T>(r: SignedPostRequest<T>): Promise<SignedPostOutcome<T>> {
  const timeout = AbortSignal.timeout(r.timeoutMs);
  try {
    const res = await (r.fetchImpl ?? fetch)(r.url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Callpay-Signature': signatureHeader(r.secrets, r.body, Math.floor(r.signedAt.getTime() / 1000)),
        ...r.headers,
      },
      body: r.body,
      redirect: 'manual',
      signal: r.signal ? AbortSignal.any([timeout, r.signal]) : timeout,
    });
    return { kind: 'answered', status: res.status, answer: await r.readAnswer(res) };
  } catch (error) {
    if (timeout.aborted) return { kind: 'timeout' };
    if (r.signal?.aborted) return { kind: 'aborted' };
    return { kind: 'failed', error };
  }
}

/** Null for a 2xx; else one line naming the status (never the body). */
export function httpStatusFailure(status: number): string | null {
  if (status >= 200 && status <= 299) return null;
  return `HTTP ${status}${status >= 300 && status < 400 ? ' (redirects are not followed)' : ''}`;
}
