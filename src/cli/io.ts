import type { Writable } from 'node:stream';
import type { DestinationStream } from 'pino';
import type { InputStream } from './secrets.js';
import type { PaymentHooks } from '../payments/service.js';

/** The process's streams and surroundings, passed in so tests can run the CLI in-process. */
export interface CliIo {
  stdin: InputStream;
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Where logs go; stderr when absent. */
  logDestination?: DestinationStream;
  /** Fault-injection seams for `serve`, set only by test launchers (never by configuration). */
  hooks?: PaymentHooks;
}

export function processIo(): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}
