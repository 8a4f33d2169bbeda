// Writes openapi.yaml from the code (src/intake/openapi.ts): `npm run openapi`. test/openapi.test.ts
// fails when the committed file and the code disagree.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openApiYaml } from '../test/helpers/openapi.js';

const out = fileURLToPath(new URL('../openapi.yaml', import.meta.url));
writeFileSync(out, openApiYaml());
console.log(`wrote ${out}`);
