import type { NotAnswered } from '../engine.js';

const E164 = /^\+[1-9]\d{1,14}$/;

export type DialStringResult = { ok: true; dialString: string } | { ok: false; reason: string };

/**
 * Fills the configured template (`sofia/gateway/carrier/{e164}`) with the enrolled number. The number
 * must be strict E.164 ("+" and digits): nothing else can reach FreeSWITCH's originate parser, so a
 * value that would inject variables (`{`, `[`, `^^`) or a second destination (`,`, `|`) is refused,
 * not escaped.
 */
export function fillDialString(template: string, e164: string): DialStringResult {
  if (!E164.test(e164)) return { ok: false, reason: 'dial string refused: the number is not E.164' };
  const dialString = template.replaceAll('{e164}', e164).replaceAll('{number}', e164.slice(1));
  if (/\s/.test(dialString)) return { ok: false, reason: 'dial string refused: it contains white space' };
  return { ok: true, dialString };
}

/** A template is checked at start-up (config schema): it may hold "/", "@", ":", ".", "-", "_", "+" and the placeholders. */
export function isSafeDialTemplate(template: string): boolean {
  const rest = template.replaceAll('{e164}', '').replaceAll('{number}', '');
  return rest !== template && /^[A-Za-z0-9/@:.\-_+=;]+$/.test(rest) && !/[,|{}[\]^]/.test(rest);
}

export interface OriginateVars {
  uuid: string;
  ignoreEarlyMedia: boolean;
  ringTimeoutMs: number;
  callerIdNumber: string;
  parkTimeoutSeconds: number;
}

/** `originate {vars}<dial string> &park()`: ours is the A leg's Unique-ID, so its events are ours. */
export function originateCommand(v: OriginateVars, dialString: string): string {
  const vars = [
    `origination_uuid=${v.uuid}`,
    `ignore_early_media=${v.ignoreEarlyMedia}`,
    `originate_timeout=${Math.max(1, Math.ceil(v.ringTimeoutMs / 1000))}`,
    `origination_caller_id_number=${v.callerIdNumber}`,
    // A parked channel whose controller (callpay) is gone is torn down by FreeSWITCH itself.
    `park_timeout=${v.parkTimeoutSeconds}`,
    'hangup_after_bridge=true',
  ];
  return `originate {${vars.join(',')}}${dialString} &park()`;
}

/** Hangup-Cause (or the cause of "-ERR CAUSE") of a dial that was never answered → the port's outcome. */
export function outcomeOfCause(cause: string): NotAnswered {
  switch (cause) {
    case 'USER_BUSY':
      return 'busy';
    case 'NO_ANSWER':
    case 'NO_USER_RESPONSE':
    case 'ORIGINATOR_CANCEL':
    case 'ALLOTTED_TIMEOUT':
      return 'no_answer';
    case 'CALL_REJECTED':
    case 'USER_NOT_REGISTERED':
    case 'UNALLOCATED_NUMBER':
    case 'NUMBER_CHANGED':
      return 'rejected';
    default:
      return 'failed';
  }
}

/** The SIP status most often behind a cause, for the CDR (FreeSWITCH's own Q.850 ↔ SIP table). */
export function sipStatusOfCause(cause: string): number | null {
  const table: Record<string, number> = {
    USER_BUSY: 486, NO_ANSWER: 480, NO_USER_RESPONSE: 408, ORIGINATOR_CANCEL: 487, ALLOTTED_TIMEOUT: 408,
    CALL_REJECTED: 603, USER_NOT_REGISTERED: 404, UNALLOCATED_NUMBER: 404, NUMBER_CHANGED: 410,
  };
  return table[cause] ?? null;
}

/** `file_string://a.wav!b.wav`: one continuous playback; a single clip is played as itself. */
export function playbackArg(paths: readonly string[]): string {
  if (paths.length === 1) return paths[0]!;
  return `file_string://${paths.join('!')}`;
}
