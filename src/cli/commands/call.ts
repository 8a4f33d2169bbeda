import { InvalidArgumentError, type Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { parsePhone } from '../../domain/phone.js';
import { createCallEngine } from '../../wiring/engines.js';
import { table } from '../output.js';
import { withApp } from './shared.js';
import type { CliIo } from '../io.js';

const TEST_TONE = fileURLToPath(new URL('../../../prompts/common/test-tone.wav', import.meta.url));

function digitCount(input: string): number {
  if (!/^\d{1,2}$/.test(input) || Number(input) < 1 || Number(input) > 20) throw new InvalidArgumentError('expected 1 to 20');
  return Number(input);
}

export function registerCall(program: Command, io: CliIo): void {
  const call = program.command('call').description('telephone checks for operators');
  call
    .command('test')
    .description('place a test call through the configured engine: play a tone, collect digits, print the outcome and timings (never the digits)')
    .requiredOption('--number <e164>', 'number to call, E.164')
    .option('--digits <n>', 'digits to collect ("#" ends early)', digitCount, 4)
    .option('--json', 'machine-readable output')
    .action((opts: { number: string; digits: number }, cmd: Command) =>
      withApp(io, cmd, async ({ ctx, out }) => {
        const number = parsePhone(opts.number, 'number').e164;
        const engine = await createCallEngine({ config: ctx.config, log: ctx.log });
        try {
          const t0 = performance.now();
          const ms = () => Math.round(performance.now() - t0);
          const log = ctx.log.child({ test: true });
          const dial = await engine.dial({ number, log });
          const answerMs = ms();
          if (dial.kind !== 'answered') {
            out.result({ outcome: dial.kind, sip_status: dial.sipStatus, reason: dial.reason, setup_ms: answerMs }, () =>
              table([['outcome', dial.kind], ['sip status', String(dial.sipStatus ?? '-')], ['reason', dial.reason], ['after', `${answerMs} ms`]]));
            return;
          }
          const c = dial.call;
          const played = await c.play([TEST_TONE], { bargeIn: true });
          const playedMs = ms();
          const input = await c.collect({ minDigits: 1, maxDigits: opts.digits, terminators: '#', firstDigitTimeoutMs: 10_000, interDigitTimeoutMs: 5_000 });
          await c.hangup();
          const record = await c.ended;
          const keyed = input.kind === 'digits' ? input.digits.length : 0;
          const summary = {
            outcome: record.outcome, call_id: record.callId, answer_ms: answerMs, prompt_ms: playedMs - answerMs, prompt: played.kind,
            input: input.kind === 'digits' ? input.reason : input.kind, digits_received: keyed, total_ms: ms(),
          };
          out.result(summary, () => table([
            ['outcome', `${summary.outcome} (answered after ${answerMs} ms)`],
            ['prompt', `${played.kind}, ${summary.prompt_ms} ms`],
            ['input', `${summary.input}, ${keyed} digit${keyed === 1 ? '' : 's'} received`],
            ['total', `${summary.total_ms} ms`],
          ]));
        } finally {
          await engine.close();
        }
      }),
    );
}
