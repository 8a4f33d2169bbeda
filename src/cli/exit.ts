/**
 * A command that ran to its end and printed its result, but whose result is a failure with an exit
 * code of its own (e.g. `call test`: not answered). main() writes the message as one line on stderr
 * and returns the code.
 */
export class CommandFailed extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'CommandFailed';
  }
}
