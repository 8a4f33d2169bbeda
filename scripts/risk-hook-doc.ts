// Writes docs/risk-hook.openapi.yaml from src/risk/hook-doc.ts: `npx tsx scripts/risk-hook-doc.ts`.
// test/risk-hook.test.ts fails when the committed file and the code disagree.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { riskHookDocument } from '../src/risk/hook-doc.js';
import { VERSION } from '../src/version.js';

export function riskHookYaml(): string {
  return `# Generated from src/risk/hook-doc.ts by \`npx tsx scripts/risk-hook-doc.ts\`; do not edit (test/risk-hook.test.ts compares).\n${stringify(riskHookDocument(VERSION), { lineWidth: 0 })}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = fileURLToPath(new URL('../docs/risk-hook.openapi.yaml', import.meta.url));
  writeFileSync(out, riskHookYaml());
  console.log(`wrote ${out}`);
}
