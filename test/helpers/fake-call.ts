import { pino } from 'pino';
import type { Call, CallRecord, CollectResult, PlayResult, ScreenOptions, ScreenResult } from '../../src/telephony/engine.js';

/** The PIN the fake consumer keys when a test gives no inputs: "482916#". */
export const KEYED_PIN: CollectResult = { kind: 'digits', digits: '482916', reason: 'terminator', terminator: '#' };

export interface FakeCallOptions {
  /** What each collect() returns, in turn (digits keyed during a prompt first, as the engine would); then a hang-up. Default: the PIN, every time. */
  inputs?: CollectResult[];
  /** The n-th play() (1-based) finds the phone hung up. */
  hangUpAtPlay?: number;
  /** A screen() method answering this (none: the engine screens nothing). */
  screen?: (opts: ScreenOptions) => ScreenResult;
  callId?: string;
}

/**
 * A Call for unit tests of the call scripts (no SIP, no media): what was played is kept, in order.
 * The real engines are tested against sipp and the FreeSWITCH recordings.
 */
export function fakeCall(o: FakeCallOptions = {}): { call: Call; played: string[][]; hungUp(): boolean } {
  const played: string[][] = [];
  let hungUp = false;
  const record: CallRecord = { callId: o.callId ?? 'c1', startedAt: 't0', answeredAt: 't1', endedAt: null, outcome: 'answered', sipStatus: 200, reason: null, digitCount: 0 };
  const call: Call = {
    id: record.callId,
    log: pino({ level: 'silent' }),
    async play(clips): Promise<PlayResult> {
      played.push([...clips]);
      return o.hangUpAtPlay === played.length ? { kind: 'hung_up' } : { kind: 'completed' };
    },
    async collect(): Promise<CollectResult> {
      if (!o.inputs) return KEYED_PIN;
      return o.inputs.shift() ?? { kind: 'hung_up' };
    },
    async hangup() {
      hungUp = true;
      record.endedAt ??= 't2';
    },
    get ended() {
      return Promise.resolve({ ...record });
    },
    record: () => ({ ...record }),
    ...(o.screen ? { screen: async (opts: ScreenOptions) => o.screen!(opts) } : {}),
  };
  return { call, played, hungUp: () => hungUp };
}
