import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { stringify } from 'yaml';
import { openApiDocument } from '../../src/intake/openapi.js';
import { VERSION } from '../../src/version.js';

/** openapi.yaml as `npm run openapi` writes it. */
export function openApiYaml(): string {
  return `# Generated from src/intake/openapi.ts by \`npm run openapi\`; do not edit (test/openapi.test.ts compares).\n${stringify(openApiDocument(VERSION), { lineWidth: 0 })}`;
}

interface Op {
  responses: Record<string, { content?: { 'application/json'?: { schema: object } } }>;
}

const doc = openApiDocument(VERSION) as { paths: Record<string, Record<string, Op>> };
const ajv = new Ajv2020({ strict: false, allErrors: true });
// zod writes formats it knows; the document's own keywords ("x-…") are not schema keywords.
const compiled = new Map<string, ValidateFunction>();
const templates = Object.keys(doc.paths).map((p) => ({ p, re: new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`) }));

/**
 * Throws unless the response is documented: the path and method exist, the status is listed, and the
 * JSON body matches that status's schema (with an error, its code is one the route lists).
 */
export function checkApiResponse(method: string, url: string, status: number, body: unknown): void {
  const path = new URL(url, 'http://x').pathname;
  const template = templates.find((t) => t.re.test(path))?.p;
  if (!template) {
    // Outside the API (checkout pages, unknown routes): only the 404 shape is the API's.
    return;
  }
  const op = doc.paths[template]?.[method.toLowerCase()];
  if (!op) throw new Error(`openapi: ${method} ${template} is not documented (status ${status})`);
  const response = op.responses[String(status)];
  if (!response) throw new Error(`openapi: ${method} ${template} answered ${status}, which the document does not list (${JSON.stringify(body)})`);
  const schema = response.content?.['application/json']?.schema;
  if (!schema) return;
  const key = `${method} ${template} ${status}`;
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(key, validate);
  }
  if (!validate(body)) throw new Error(`openapi: ${key}: body does not match the document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 2000)}`);
}
