import { parseParams } from './headers.js';
import { getHeader, getHeaders, type SipMessage } from './message.js';

/**
 * RFC 4028 session timers, the pure part: reading Session-Expires and Min-SE, and deciding from a
 * response or a request who refreshes the session and how often. The scheduling and sending are in
 * session-refresh.ts.
 */

export type Refresher = 'uac' | 'uas';

export interface SessionExpires {
  seconds: number;
  /** Absent in a request: the UAS chooses (§9). */
  refresher: Refresher | null;
}

/** The session timer of a dialog as we run it; null = no timer. */
export type Schedule = { seconds: number; weRefresh: boolean } | null;

/** The smallest interval we ask for, and the Min-SE of our INVITE (§4: at least 90 s). */
export const MIN_SE = 90;
/** What setTimeout can hold in milliseconds (2^31 - 1): longer intervals are run as this. */
const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

function deltaSeconds(text: string | undefined): number | null {
  if (text === undefined || !/^\d{1,32}$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 ? Math.min(n, MAX_SECONDS) : null;
}

/** "1800;refresher=uac" → {1800, 'uac'}; null for anything unreadable (treated as absent). */
export function parseSessionExpires(value: string | undefined): SessionExpires | null {
  if (value === undefined) return null;
  const m = /^\s*(\d+)\s*(;.*)?$/.exec(value);
  const seconds = deltaSeconds(m?.[1]);
  const params = parseParams(m?.[2] ?? '');
  if (seconds === null || !params) return null;
  const r = params.get('refresher')?.toLowerCase();
  return { seconds, refresher: r === 'uac' || r === 'uas' ? r : null };
}

/** "90" (generic parameters allowed, §5) → 90; null for anything unreadable. */
export function parseMinSe(value: string | undefined): number | null {
  if (value === undefined) return null;
  const m = /^\s*(\d+)\s*(;.*)?$/.exec(value);
  return m && parseParams(m[2] ?? '') ? deltaSeconds(m[1]) : null;
}

/** Whether Supported/Require lists an option tag (the parser split the list into entries). */
export function hasOptionTag(msg: SipMessage, header: 'supported' | 'require', tag: string): boolean {
  return getHeaders(msg, header).some((v) => v.trim().toLowerCase() === tag);
}

/** Whether the message's Allow lists a method (method names are case-sensitive, RFC 3261 §7.1). */
export function allowsMethod(msg: SipMessage, method: string): boolean {
  return getHeaders(msg, 'allow').some((v) => v.trim() === method);
}

/**
 * A 2xx to a request of ours (the INVITE or a refresh), §7.2: no Session-Expires = no timer; otherwise
 * we refresh unless it names the UAS. The parameter "will always be present" per the RFC; a peer that
 * leaves it out has not told us whose job it is, and taking it is the reading that keeps the call up.
 * The interval is the far end's choice and is honoured even below 90 s (tests use 2 s): enforcing our
 * minimum on it would only end a call the far end is happy with.
 */
export function scheduleFromResponse(res: SipMessage): Schedule {
  const se = parseSessionExpires(getHeader(res, 'session-expires'));
  if (!se) return null;
  return { seconds: se.seconds, weRefresh: se.refresher !== 'uas' };
}

/**
 * The phone refreshes (re-INVITE or UPDATE to us, §9): the interval it asks for (or the current one),
 * and who refreshes next: its choice, else the phone when it supports timers, else us (a UAS may
 * only make the UAC refresh if the UAC said it can). Returns the headers of our 2xx and the schedule.
 * A short interval is accepted, as above: we never answer 422.
 */
export function answerRefresh(req: SipMessage, current: Schedule): { schedule: Schedule; headers: Array<[string, string]> } {
  const se = parseSessionExpires(getHeader(req, 'session-expires'));
  const seconds = se?.seconds ?? current?.seconds;
  if (seconds === undefined) return { schedule: null, headers: [] };
  const supportsTimer = hasOptionTag(req, 'supported', 'timer');
  const refresher: Refresher = se?.refresher ?? (supportsTimer ? 'uac' : 'uas');
  return {
    schedule: { seconds, weRefresh: refresher === 'uas' },
    headers: [['session-expires', `${seconds};refresher=${refresher}`], ...(supportsTimer ? [['require', 'timer'] as [string, string]] : [])],
  };
}

/**
 * A 422 to our INVITE or refresh (§7.3): the new Session-Expires and Min-SE to retry with, raised to
 * the response's Min-SE; null when it gives none we can use (no retry then).
 */
export function after422(res: SipMessage, asked: { seconds: number; minSe: number }): { seconds: number; minSe: number } | null {
  const minSe = parseMinSe(getHeader(res, 'min-se'));
  if (minSe === null || minSe <= asked.minSe) return null;
  return { seconds: Math.max(asked.seconds, minSe), minSe };
}

/** When to act, in ms from the last refresh: the refresher at half the interval, the other side at expiry minus min(32 s, a third) (§10). */
export function actAfterMs(schedule: NonNullable<Schedule>): number {
  const ms = schedule.seconds * 1000;
  return schedule.weRefresh ? ms / 2 : ms - Math.min(32_000, ms / 3);
}
