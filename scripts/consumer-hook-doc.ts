// Writes docs/consumer-hook.openapi.yaml from src/notify/consumer-hook-contract.ts: `npx tsx scripts/consumer-hook-doc.ts`.
// test/consumer-hook.test.ts fails when the committed file and the code disagree.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { consumerHookDocument } from '../src/notify/consumer-hook-contract.js';
import { VERSION } from '../src/version.js';

export function consumerHookYaml(): string {
  return `# Generated from src/notify/consumer-hook-contract.ts by \`npx tsx scripts/consumer-hook-doc.ts\`; do not edit (test/consumer-hook.test.ts compares).\n${stringify(consumerHookDocument(VERSION), { lineWidth: 0 })}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = fileURLToPath(new URL('../docs/consumer-hook.openapi.yaml', import.meta.url));
  writeFileSync(out, consumerHookYaml());
  console.log(`wrote ${out}`);
}
