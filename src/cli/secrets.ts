import type { Readable, Writable } from 'node:stream';
import { CallpayError } from '../domain/errors.js';

/** A terminal when isTTY is true (then setRawMode exists); a pipe or a test stream otherwise. */
export type InputStream = Readable & { isTTY?: boolean; setRawMode?(mode: boolean): unknown };

/**
 * Secrets never travel in argv (visible in `ps` and shell history). They come from standard input,
 * one per line in a fixed order (PIN first, then password), or from a prompt with echo off.
 */
export interface SecretSource {
  /** `fromStdin` says the operator passed the matching --…-stdin flag. */
  read(field: 'pin' | 'password', opts: { fromStdin: boolean; prompt: string; confirm: boolean; optional: boolean }): Promise<string | undefined>;
}

const MAX_STDIN_BYTES = 4096;

export function createSecretSource(stdin: InputStream, stderr: Writable): SecretSource {
  let lines: Promise<string[]> | undefined;
  const nextLine = async (field: string): Promise<string> => {
    lines ??= readAllLines(stdin);
    const line = (await lines).shift();
    if (line === undefined) throw new CallpayError('secret_input', `${field}: expected a line on standard input`, field);
    return line;
  };
  return {
    async read(field, opts) {
      if (opts.fromStdin) return nextLine(field);
      if (!stdin.isTTY) {
        if (opts.optional) return undefined;
        throw new CallpayError(
          'secret_input',
          `${field}: not given; pass --${field}-stdin and write it on standard input, or run on a terminal to be prompted`,
          field,
        );
      }
      const first = await promptHidden(stdin, stderr, opts.prompt);
      if (first === '' && opts.optional) return undefined;
      if (opts.confirm && (await promptHidden(stdin, stderr, 'Again, to confirm: ')) !== first) {
        throw new CallpayError('secret_input', `${field}: the two entries differ`, field);
      }
      return first;
    },
  };
}

async function readAllLines(stdin: Readable): Promise<string[]> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > MAX_STDIN_BYTES) throw new CallpayError('secret_input', 'standard input: more than 4 KiB', 'stdin');
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/);
}

/** Reads one line with echo off; Ctrl-C aborts. */
function promptHidden(stdin: InputStream, stderr: Writable, prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    stderr.write(prompt);
    stdin.setRawMode?.(true);
    stdin.resume();
    let value = '';
    const finish = (error?: Error) => {
      stdin.setRawMode?.(false);
      stdin.pause();
      stdin.off('data', onData);
      stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new CallpayError('secret_input', 'aborted', 'stdin'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
