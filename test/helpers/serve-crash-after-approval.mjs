// `callpay serve` (the built CLI) with one fault injected through the wiring's test seam: the
// process SIGKILLs itself right after a PIN approval is recorded, before the charge.
import { main } from '../../dist/cli/main.js';
import { processIo } from '../../dist/cli/io.js';

const io = { ...processIo(), hooks: { afterApproval: () => process.kill(process.pid, 'SIGKILL') } };
main(process.argv, io).then((code) => {
  process.exitCode = code;
});
