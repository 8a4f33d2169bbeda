import { newId } from '../domain/ids.js';
import type { Clock } from '../domain/clock.js';
import { httpStatusFailure, signedPost } from '../notify/signed-post.js';
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
    const outcome = await signedPost({
      url: o.url,
      secrets: o.secrets,
      body: JSON.stringify(request),
      signedAt: now,
      headers: { Accept: 'application/json', 'Callpay-Request-Id': request.id, 'User-Agent': 'callpay-risk/1' },
      timeoutMs: o.timeoutMs,
      signal: outer,
      fetchImpl: o.fetchImpl,
      readAnswer: readCapped,
    });
    switch (outcome.kind) {
      case 'timeout': return { kind: 'failure', failure: 'timeout', detail: `no answer within ${o.timeoutMs} ms` };
      case 'aborted': return { kind: 'failure', failure: 'unreachable', detail: 'abandoned by callpay (the payment ended meanwhile)' };
      case 'failed':
        if (outcome.error instanceof AnswerTooLarge) return { kind: 'failure', failure: 'malformed', detail: `answer larger than ${MAX_ANSWER_BYTES} bytes` };
        return { kind: 'failure', failure: 'unreachable', detail: describeFetchError(outcome.error, o.timeoutMs) };
    }
    const { status, answer: text } = outcome;
    const httpError = httpStatusFailure(status);
    if (httpError !== null) return { kind: 'failure', failure: 'http_error', detail: httpError, httpStatus: status };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { kind: 'failure', failure: 'malformed', detail: 'answer is not JSON', httpStatus: status };
    }
    const parsed = riskCheckResponse.safeParse(json);
    if (!parsed.success) {
      // The field names only: the answer's values are the carrier's, and not for our logs.
      const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(top level)'))].join(', ');
      return { kind: 'failure', failure: 'malformed', detail: `answer does not match the contract at: ${fields}`.slice(0, 200), httpStatus: status };
    }
    return { kind: 'answer', answer: parsed.data, httpStatus: status };
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

