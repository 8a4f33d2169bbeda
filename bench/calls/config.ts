// Fixed settings of the calls bench, shared by its files.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLIP = join(ROOT, 'prompts/en-US/ivr/enter-pin.wav'); // 5.05 s, 8 kHz mono
export const HOST = '127.0.0.1';
export const RTP_MIN = 40000; // callpay's RTP ports for the bench: 3000 even/odd pairs (2000 calls + warm-up + ports others hold)
export const RTP_MAX = 45999;
export const NUMBER = '+886912345678';
/** telephony.sip.receiveBufferBytes as `callpay serve` has it by default (config/default.json). */
export const SIP_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;
export const SETTLE_MS = 1000; // after the last answer, before the window opens
export const MARGIN_MS = 500; // the window closes this long before the first hang-up
export const LOAD_WARMUP_MS = 2000; // HTTP load runs this long before round 2 starts dialing
export const MIN_WINDOW_MS = 2000;
export const ELD_RESOLUTION_MS = 10; // as bench/pin-verify.ts: an idle loop reads ≈ 10 ms
export const TARGET = { calls: 300, intervalMs: 20, toleranceMs: 2, setupsPerS: 100 } as const;
/** Issue 15 part 1: calls while the intake is under load in the same process. */
export const LOADED_TARGET = { calls: 1000, setupsPerS: 200, httpRps: 1000, setupP99Ms: 50, sendP99Ms: 22 } as const;
/** Issue 15 part 2: this many calls at this rate, phone-side inter-arrival p99 within 20 ± 2 ms, 0 loss. */
export const PHONE_TARGET = { calls: 2000, setupsPerS: 500 } as const;
