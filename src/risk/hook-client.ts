import { newId } from '../domain/ids.js';
import type { Clock } from '../domain/clock.js';
import { signatureHeader } from '../notify/signature.js';
import { riskCheckResponse, type RiskCheckRequest, type RiskCheckResponse } from './contract.js';
import { describeFetchError } from '../notify/fetch-error.js';

/** Larger answers are cut off and count as malformed: the contract's answer is a few dozen bytes. */
const MAX_ANSWER_BYTES = 16 * 1024;

export type HookFailure = 'timeout' | 'unreachable' | 'http_error' | 'malformed';

/** Expected results are values: an answer, or why there is none (never the number, never the body). */
export type HookResult =
  | { kind: 'answer'; answer: RiskCheckResponse; httpStatus: number }
  | { kind: 'failure'; failure: HookFailure; detail: string; httpStatus?: number };

export interface RiskSubject {
  phone: string;
  paymentId: string;
  merchantId: string;
  amount: number;
  currency: string;
  live: boolean;
}

export interface RiskHookClientOptions {
  url: string;
  /** Newest first; one v1 signature each (rotation, as for webhooks). */
  secrets: string[];
  timeoutMs: number;
  clock: Clock;
  fetchImpl?: typeof fetch;
}

export type RiskHookClient = (subject: RiskSubject, signal?: AbortSignal) => Promise<HookResult>;

/**
 * One signed POST to the carrier's hook, bounded by `timeoutMs` from the first byte sent to the
 * last byte of the answer read. Redirects are not followed (a 3xx is an HTTP error).
 */
export function createRiskHookClient(o: RiskHookClientOptions): RiskHookClient {
  const doFetch = o.fetchImpl ?? fetch;
  return async (subject, outer) => {
    const now = o.clock();
    const request: RiskCheckRequest = {
      id: newId('risk', now.getTime()),
      type: 'risk.check',
      created_at: now.toISOString(),
      data: {
        phone_number: subject.phone,
        payment_id: subject.paymentId,
        merchant_id: subject.merchantId,
        amount: subject.amount,
        currency: subject.currency,
        live: subject.live,
      },
    };
    // Serialised once: these exact bytes are signed and sent.
    const body = JSON.stringify(request);
    const timeout = AbortSignal.timeout(o.timeoutMs);
    const signal = outer ? AbortSignal.any([timeout, outer]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = await doFetch(o.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json',
          'Callpay-Signature': signatureHeader(o.secrets, body, Math.floor(now.getTime() / 1000)),
          'Callpay-Request-Id': request.id,
          'User-Agent': 'callpay-risk/1',
        },
        body,
        redirect: 'manual',
        signal,
      });
      text = await readCapped(res);
    } catch (e) {
      if (timeout.aborted) return { kind: 'failure', failure: 'timeout', detail: `no answer within ${o.timeoutMs} ms` };
      if (outer?.aborted) return { kind: 'failure', failure: 'unreachable', detail: 'abandoned by callpay (the payment ended meanwhile)' };
      if (e instanceof AnswerTooLarge) return { kind: 'failure', failure: 'malformed', detail: `answer larger than ${MAX_ANSWER_BYTES} bytes` };
      return { kind: 'failure', failure: 'unreachable', detail: describeFetchError(e, o.timeoutMs) };
    }
    if (res.status < 200 || res.status > 299) {
      return { kind: 'failure', failure: 'http_error', detail: `HTTP ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : ''}`, httpStatus: res.status };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { kind: 'failure', failure: 'malformed', detail: 'answer is not JSON', httpStatus: res.status };
    }
    const parsed = riskCheckResponse.safeParse(json);
    if (!parsed.success) {
      // The field names only: the answer's values are the carrier's, and not for our logs.
      const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(top level)'))].join(', ');
      return { kind: 'failure', failure: 'malformed', detail: `answer does not match the contract at: ${fields}`.slice(0, 200), httpStatus: res.status };
    }
    return { kind: 'answer', answer: parsed.data, httpStatus: res.status };
  };
}

class AnswerTooLarge extends Error {}

async function readCapped(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > MAX_ANSWER_BYTES) throw new AnswerTooLarge();
      chunks.push(value);
    }
  } finally {
    void reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8');
}

