// Command-line arguments of the calls bench.
import { MARGIN_MS, MIN_WINDOW_MS, SETTLE_MS } from './config.js';

export interface Args {
  calls: number; rate: number; holdS: number; clients: number;
  /** telephony.rtp.inbandDtmf of the engine under test (sipp offers telephone-event, so `auto` = off). */
  inband: 'auto' | 'always' | 'never';
  /** sipp echoes callpay's RTP back (-rtp_echo): the media worker then receives, and decodes, a stream per call. */
  rtpEcho: boolean;
  /** telephony.rtp.workers of the engine under test: 0 = one per CPU (at most 4), as `callpay serve` by default. */
  mediaWorkers: number;
  /** telephony.rtp.realtimePriority of the engine under test: SCHED_FIFO priority of the media threads, 0 = none; 10 as `callpay serve` by default. */
  realtime: number;
}

function usage(msg: string): never {
  console.error(`bench/calls/main.ts: ${msg}\nusage: npx tsx bench/calls/main.ts [--calls 1..2000] [--rate 1..500] [--hold-s 5..600] [--clients 1..256] [--inband auto|always|never] [--rtp-echo on|off] [--media-workers 0..16] [--realtime 0..99]`);
  process.exit(2);
}

export function parseArgs(argv: string[]): Args {
  const out: Args = { calls: 300, rate: 100, holdS: 20, clients: 32, inband: 'auto', rtpEcho: false, mediaWorkers: 0, realtime: 10 };
  const spec = { calls: [1, 2000], rate: [1, 500], 'hold-s': [5, 600], clients: [1, 256] } as const;
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i] ?? '';
    const name = flag.replace(/^--/, '');
    const raw = argv[i + 1];
    if (flag === '--inband') {
      if (raw !== 'auto' && raw !== 'always' && raw !== 'never') usage(`--inband takes auto, always or never, got ${JSON.stringify(raw ?? '')}`);
      out.inband = raw;
      continue;
    }
    if (flag === '--rtp-echo') {
      if (raw !== 'on' && raw !== 'off') usage(`--rtp-echo takes on or off, got ${JSON.stringify(raw ?? '')}`);
      out.rtpEcho = raw === 'on';
      continue;
    }
    if (flag === '--realtime') {
      if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) > 99) usage(`--realtime takes an integer in 0..99, got ${JSON.stringify(raw ?? '')}`);
      out.realtime = Number(raw);
      continue;
    }
    if (flag === '--media-workers') {
      if (raw === undefined || !/^\d+$/.test(raw) || Number(raw) > 16) usage(`--media-workers takes an integer in 0..16, got ${JSON.stringify(raw ?? '')}`);
      out.mediaWorkers = Number(raw);
      continue;
    }
    if (!flag.startsWith('--') || !(name in spec)) usage(`unknown option ${JSON.stringify(flag)}`);
    const [min, max] = spec[name as keyof typeof spec];
    if (raw === undefined || !/^[1-9]\d*$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      usage(`${flag} takes an integer in ${min}..${max}, got ${JSON.stringify(raw ?? '')}`);
    }
    const n = Number(raw);
    if (name === 'calls') out.calls = n;
    else if (name === 'rate') out.rate = n;
    else if (name === 'hold-s') out.holdS = n;
    else out.clients = n;
  }
  // every call must be up during the window: window = hold − dialing span − settle − margin
  const windowMs = out.holdS * 1000 - (out.calls / out.rate) * 1000 - SETTLE_MS - MARGIN_MS;
  if (windowMs < MIN_WINDOW_MS) {
    const need = Math.ceil((MIN_WINDOW_MS + SETTLE_MS + MARGIN_MS) / 1000 + out.calls / out.rate);
    usage(`--hold-s ${out.holdS} leaves no ${MIN_WINDOW_MS / 1000} s window in which all ${out.calls} calls are up (dialing alone takes ${(out.calls / out.rate).toFixed(1)} s); use --hold-s ${need} or more`);
  }
  return out;
}
