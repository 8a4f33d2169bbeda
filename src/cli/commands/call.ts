import { InvalidArgumentError, type Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { parsePhone } from '../../domain/phone.js';
import type { Logger } from '../../log.js';
import type { CallEngine } from '../../telephony/engine.js';
import { createCallEngine } from '../../wiring/engines.js';
import { CommandFailed } from '../exit.js';
import { table } from '../output.js';
import { withApp } from './shared.js';
import { registerCallRecords } from './call-records.js';
import type { CliIo } from '../io.js';

const TEST_TONE = fileURLToPath(new URL('../../../prompts/common/test-tone.wav', import.meta.url));

/** `call test`'s own exit codes, after the CLI's 0 ok, 1 refused, 2 usage error, 3 internal error. */
export const CALL_TEST_EXIT = { notAnswered: 4, noDigits: 5, timeout: 6 } as const;

/** A person has to answer, listen to the tone and key digits: 20 s, yet an unreachable trunk (timer B, 32 s) is reported sooner. */
const DEFAULT_TIMEOUT_S = 20;
/** After --timeout, how long the engine may take to cancel or hang up before the test is reported anyway. */
const WIND_DOWN_MS = 2_000;

function digitCount(input: string): number {
  if (!/^\d{1,2}$/.test(input) || Number(input) < 1 || Number(input) > 20) throw new InvalidArgumentError('expected 1 to 20');
  return Number(input);
}

function seconds(input: string): number {
  if (!/^\d{1,3}$/.test(input) || Number(input) < 1 || Number(input) > 600) throw new InvalidArgumentError('expected whole seconds from 1 to 600');
  return Number(input);
}

const HELP = `
Exit status:
  0  answered, and at least one digit was keyed
  1  refused before dialling (bad number, configuration, an engine that places no call)
  2  usage error
  3  internal error
  ${CALL_TEST_EXIT.notAnswered}  not answered: busy, no answer, rejected, or failed (e.g. 404, no response from the trunk)
  ${CALL_TEST_EXIT.noDigits}  answered, but no digit was keyed (silence, or the phone hung up)
  ${CALL_TEST_EXIT.timeout}  --timeout reached first (e.g. an unreachable target): the call is cancelled or hung up
`;

interface TestResult {
  summary: Record<string, unknown>;
  human: Array<[string, string]>;
  /** undefined: answered and digits collected. */
  failure?: { exitCode: number; message: string };
}

export function registerCall(program: Command, io: CliIo): void {
  const call = program.command('call').description('telephone checks and call records for operators');
  registerCallRecords(call, io);
  call
    .command('test')
    .description('place a test call through the configured engine: play a tone, collect digits, print the outcome and timings (never the digits); exits non-zero unless the call was answered and digits were keyed')
    .requiredOption('--number <e164>', 'number to call, E.164')
    .option('--digits <n>', 'digits to collect ("#" ends early)', digitCount, 4)
    .option('--timeout <seconds>', 'bound on the whole test, dialling included (1-600)', seconds, DEFAULT_TIMEOUT_S)
    .option('--json', 'machine-readable output')
    .addHelpText('after', HELP)
    .action((opts: { number: string; digits: number; timeout: number }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        const number = parsePhone(opts.number, 'number').e164;
        const engine = await createCallEngine({ config: ctx.config, log: ctx.log });
        const t0 = performance.now();
        const ms = () => Math.round(performance.now() - t0);
        const abort = new AbortController();
        const deadline = setTimeout(() => abort.abort(), opts.timeout * 1000);
        const progress = { stage: 'dialing' as 'dialing' | 'answered' };
        try {
          const test = runTest(engine, { number, digits: opts.digits, signal: abort.signal, log: ctx.log.child({ test: true }), ms, progress });
          // Once the deadline passed, the engine gets a moment to cancel or hang up, and no more.
          const result = await Promise.race([test.then((r) => (abort.signal.aborted ? undefined : r)), windDown(abort.signal)]);
          clearTimeout(deadline);
          if (!result) {
            const summary = { outcome: 'timeout', stage: progress.stage, timeout_s: opts.timeout, total_ms: ms() };
            out.result(summary, () => table([['outcome', `timeout (${progress.stage === 'dialing' ? 'not answered' : 'answered'} after ${opts.timeout} s)`], ['total', `${summary.total_ms} ms`]]));
            throw new CommandFailed(CALL_TEST_EXIT.timeout, `call test: no result within --timeout ${opts.timeout} s (${progress.stage === 'dialing' ? 'still dialling' : 'answered, waiting for digits'})`);
          }
          out.result(result.summary, () => table(result.human));
          if (result.failure) throw new CommandFailed(result.failure.exitCode, result.failure.message);
        } finally {
          clearTimeout(deadline);
          await engine.close();
        }
      }),
    );
}

async function runTest(
  engine: CallEngine,
  o: { number: string; digits: number; signal: AbortSignal; log: Logger; ms: () => number; progress: { stage: 'dialing' | 'answered' } },
): Promise<TestResult> {
  const dial = await engine.dial({ number: o.number, log: o.log, signal: o.signal });
  const answerMs = o.ms();
  if (dial.kind !== 'answered') {
    return {
      summary: { outcome: dial.kind, sip_status: dial.sipStatus, reason: dial.reason, setup_ms: answerMs },
      human: [['outcome', dial.kind], ['sip status', String(dial.sipStatus ?? '-')], ['reason', dial.reason], ['after', `${answerMs} ms`]],
      failure: { exitCode: CALL_TEST_EXIT.notAnswered, message: `call test: not answered: ${dial.kind} (${dial.reason})` },
    };
  }
  o.progress.stage = 'answered';
  const c = dial.call;
  // Every engine hangs up on --timeout, whether or not it watches the signal itself.
  o.signal.addEventListener('abort', () => void c.hangup(), { once: true });
  const played = await c.play([TEST_TONE], { bargeIn: true });
  const playedMs = o.ms();
  const input = await c.collect({ minDigits: 1, maxDigits: o.digits, terminators: '#', firstDigitTimeoutMs: 10_000, interDigitTimeoutMs: 5_000 });
  await c.hangup();
  const record = await c.ended;
  const keyed = input.kind === 'digits' ? input.digits.length : 0;
  const summary = {
    outcome: record.outcome, call_id: record.callId, answer_ms: answerMs, prompt_ms: playedMs - answerMs, prompt: played.kind,
    input: input.kind === 'digits' ? input.reason : input.kind, digits_received: keyed, total_ms: o.ms(),
  };
  return {
    summary,
    human: [
      ['outcome', `${summary.outcome} (answered after ${answerMs} ms)`],
      ['prompt', `${played.kind}, ${summary.prompt_ms} ms`],
      ['input', `${summary.input}, ${keyed} digit${keyed === 1 ? '' : 's'} received`],
      ['total', `${summary.total_ms} ms`],
    ],
    ...(keyed > 0 ? {} : { failure: { exitCode: CALL_TEST_EXIT.noDigits, message: `call test: answered, but no digit was keyed (${summary.input})` } }),
  };
}

/** Resolves undefined WIND_DOWN_MS after `signal` aborts. */
function windDown(signal: AbortSignal): Promise<undefined> {
  return new Promise((resolve) => {
    signal.addEventListener('abort', () => setTimeout(() => resolve(undefined), WIND_DOWN_MS).unref(), { once: true });
  });
}
