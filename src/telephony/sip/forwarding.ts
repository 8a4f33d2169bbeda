import { getHeaders, splitList, type IncomingResponse } from './message.js';

/**
 * Signs in the responses to our INVITE that the call was forwarded (retargeted) away from the
 * number we dialled, so that a payment is not announced to whoever answers elsewhere (issue 16):
 * - `181`: 181 Call Is Being Forwarded (RFC 3261 §21.1.3);
 * - `diversion`: a Diversion header (RFC 5806), which forwarding switches and SBCs add;
 * - `history-info`: a History-Info header (RFC 7044) with more than one entry: the request was
 *   retargeted at least once after it left us. One entry is just the request as sent, and some
 *   networks add that on every call, so it is not counted.
 */
export type ForwardingSign = '181' | 'diversion' | 'history-info';

export const FORWARDING_SIGNS: readonly ForwardingSign[] = ['181', 'diversion', 'history-info'];

/** At most this many History-Info entries are looked at: the header is the far end's to make long. */
const MAX_HISTORY_ENTRIES = 64;

export function forwardingSigns(res: IncomingResponse): ForwardingSign[] {
  const signs: ForwardingSign[] = [];
  if (res.status === 181) signs.push('181');
  if (getHeaders(res, 'diversion').some((v) => v.trim().length > 0)) signs.push('diversion');
  let entries = 0;
  for (const v of getHeaders(res, 'history-info')) {
    entries += splitList(v).filter((e) => e.trim().length > 0).length;
    if (entries > MAX_HISTORY_ENTRIES) break;
  }
  if (entries > 1) signs.push('history-info');
  return signs;
}

/** The signs seen so far over a call attempt's responses, in a stable order. */
export class ForwardingWatch {
  private readonly seen = new Set<ForwardingSign>();

  note(res: IncomingResponse): ForwardingSign[] {
    for (const s of forwardingSigns(res)) this.seen.add(s);
    return this.signs();
  }

  signs(): ForwardingSign[] {
    return FORWARDING_SIGNS.filter((s) => this.seen.has(s));
  }
}
