import { main } from "../../src/cli/main.js";

// The CLI from source, as a process of its own (tests that need two processes and no build).
main(process.argv).then((code) => {
  process.exitCode = code;
});
