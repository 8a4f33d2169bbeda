/**
 * Loads the configuration once at start-up, in three layers (later wins):
 *   1. config/default.json, shipped next to src/ and dist/;
 *   2. an operator file: opts.configPath, else $CALLPAY_CONFIG, else <cwd>/callpay.json if present;
 *   3. environment variables, one per leaf of the defaults, named by envNameFor():
 *        CALLPAY_DATABASE               database
 *        CALLPAY_KEY_FILE               keyFile
 *        CALLPAY_PREVIOUS_KEY_FILES     previousKeyFiles (comma-separated)
 *        CALLPAY_LOG_LEVEL              log.level
 *        CALLPAY_HTTP_HOST              http.host
 *        CALLPAY_HTTP_PORT              http.port
 *        CALLPAY_HTTP_PUBLIC_URL        http.publicUrl
 *        CALLPAY_CURRENCY               currency
 *        CALLPAY_LOCALE                 locale
 *        CALLPAY_ARGON2_OPS_LIMIT       argon2.opsLimit
 *        CALLPAY_ARGON2_MEM_LIMIT_KI_B  argon2.memLimitKiB (alias: CALLPAY_ARGON2_MEM_LIMIT_KIB)
 *        CALLPAY_ARGON2_WORKERS         argon2.workers
 *      CALLPAY_CONFIG and CALLPAY_MASTER_KEY are reserved; any other CALLPAY_ name is an error that
 *      stops every command: the prefix belongs to callpay, and a misspelt setting must not be
 *      silently ignored (callpay would run on the default). The error names the closest setting
 *      ("did you mean …") or the names of the section it resembles.
 *
 * Any problem throws one CallpayError('config_invalid') whose message is one line
 * "<source>: <key>: <problem>" and whose field is what the operator must fix: the dotted key,
 * the environment variable, or the file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ZodError } from 'zod';
import { CallpayError } from '../domain/errors.js';
import { configSchema, type Config } from './schema.js';

export type { Config } from './schema.js';

export interface LoadConfigOptions {
  cwd: string;
  configPath?: string;
  env: NodeJS.ProcessEnv;
}

const DEFAULTS_URL = new URL('../../config/default.json', import.meta.url);
const DEFAULTS_SOURCE = 'config/default.json';
const RESERVED_ENV = new Set(['CALLPAY_CONFIG', 'CALLPAY_MASTER_KEY']);
/** Easier spellings for names the mechanical rule makes awkward. */
const ENV_ALIASES: Readonly<Record<string, string>> = {
  CALLPAY_ARGON2_MEM_LIMIT_KIB: 'argon2.memLimitKiB',
};
/** Keys holding file paths; a relative one is resolved against the layer that set it. */
const PATH_KEYS = ['database', 'keyFile'] as const;

type JsonObject = Record<string, unknown>;
/** Where a value came from: named in errors, and the base directory for relative paths. */
interface Origin {
  source: string;
  baseDir: string;
}
type Origins = Map<string, Origin>;

export function loadConfig(opts: LoadConfigOptions): Config {
  const cwd = resolve(opts.cwd);
  const defaults = readDefaults();
  const merged: JsonObject = {};
  const origins: Origins = new Map();

  mergeLayer(merged, defaults, { source: DEFAULTS_SOURCE, baseDir: cwd }, origins, '');
  const operator = operatorFile(opts, cwd);
  if (operator !== undefined) {
    const { file, namedBy } = operator;
    mergeLayer(merged, readJsonObject(file, file, namedBy), { source: file, baseDir: dirname(file) }, origins, '');
  }
  applyEnv(merged, defaults, opts.env, cwd, origins);

  const result = configSchema.safeParse(merged);
  if (!result.success) throw issueError(result.error.issues[0]!, merged, origins);
  const config = result.data;
  for (const key of PATH_KEYS) config[key] = resolve(originOf(key, origins).baseDir, config[key]);
  config.previousKeyFiles = config.previousKeyFiles.map((p) => resolve(originOf('previousKeyFiles', origins).baseDir, p));
  if (config.store.passwordFile !== null) config.store.passwordFile = resolve(originOf('store.passwordFile', origins).baseDir, config.store.passwordFile);
  const fs = config.telephony.freeswitch;
  if (fs.passwordFile !== null) fs.passwordFile = resolve(originOf('telephony.freeswitch.passwordFile', origins).baseDir, fs.passwordFile);
  const tls = config.telephony.sip.tls;
  for (const key of ['caFile', 'certFile', 'keyFile'] as const) {
    const path = tls[key];
    if (path !== null) tls[key] = resolve(originOf(`telephony.sip.tls.${key}`, origins).baseDir, path);
  }
  return config;
}

/** `http.publicUrl` → `CALLPAY_HTTP_PUBLIC_URL`: camelCase split before capitals, dots become `_`. */
export function envNameFor(path: string): string {
  const words = path.split('.').map((part) => part.replace(/(?<=[a-z0-9])([A-Z])/g, '_$1'));
  return `CALLPAY_${words.join('_').toUpperCase()}`;
}

/** Every setting with its environment variable and shipped default, for --help and the README. */
export function describeConfigKeys(): Array<{ key: string; env: string; default: unknown }> {
  return leaves(readDefaults(), '').map(([key, value]) => ({ key, env: envNameFor(key), default: value }));
}

function readDefaults(): JsonObject {
  return readJsonObject(fileURLToPath(DEFAULTS_URL), DEFAULTS_SOURCE);
}

function operatorFile(opts: LoadConfigOptions, cwd: string): { file: string; namedBy?: string } | undefined {
  const [named, namedBy, field] =
    opts.configPath !== undefined
      ? [opts.configPath, 'option configPath', 'configPath']
      : [opts.env.CALLPAY_CONFIG, 'environment CALLPAY_CONFIG', 'CALLPAY_CONFIG'];
  if (named === undefined) {
    const local = resolve(cwd, 'callpay.json');
    return existsSync(local) ? { file: local } : undefined;
  }
  if (named === '') throw invalid(namedBy, 'is empty, expected the path of a JSON file', undefined, field);
  return { file: resolve(cwd, named), namedBy };
}

function readJsonObject(file: string, source = file, namedBy?: string): JsonObject {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? `file not found${namedBy ? ` (named by ${namedBy})` : ''}` : `cannot read the file (${code})`;
    throw invalid(source, problem, undefined, source);
  }
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    throw invalid(source, `not valid JSON (${jsonErrorDetail(text, (e as Error).message)})`, undefined, source);
  }
  if (!isPlainObject(value)) throw invalid(source, 'expected a JSON object at the top level', undefined, source);
  return value;
}

/** V8 sometimes gives a position and sometimes quotes the text (newlines included): keep it one line. */
function jsonErrorDetail(text: string, message: string): string {
  const position = /at position (\d+)/.exec(message)?.[1];
  if (position === undefined) return message.replace(/, ".*$/s, '');
  const before = text.slice(0, Number(position)).split('\n');
  return `at line ${before.length}, column ${before.at(-1)!.length + 1}`;
}

/** Deep-merges `layer` into `target`, recording the origin of every path it touches. */
function mergeLayer(target: JsonObject, layer: JsonObject, origin: Origin, origins: Origins, prefix: string): void {
  for (const [key, value] of Object.entries(layer)) {
    const path = prefix ? `${prefix}.${key}` : key;
    origins.set(path, origin);
    if (isPlainObject(value)) {
      // hasOwn: a "__proto__" key in a file must not reach Object.prototype.
      const existing = Object.hasOwn(target, key) ? target[key] : undefined;
      const child = isPlainObject(existing) ? existing : {};
      setOwn(target, key, child);
      mergeLayer(child, value, origin, origins, path);
    } else {
      setOwn(target, key, value);
    }
  }
}

function applyEnv(merged: JsonObject, defaults: JsonObject, env: NodeJS.ProcessEnv, cwd: string, origins: Origins) {
  const defaultOf = new Map(leaves(defaults, ''));
  const keyOf = new Map<string, string>([...defaultOf.keys()].map((key) => [envNameFor(key), key]));
  for (const [alias, key] of Object.entries(ENV_ALIASES)) keyOf.set(alias, key);

  const setBy = new Map<string, string>(); // key → env var, to catch a name and its alias both set
  const names = Object.keys(env).filter((name) => name.startsWith('CALLPAY_') && !RESERVED_ENV.has(name));
  for (const name of names.sort()) {
    const raw = env[name];
    const key = keyOf.get(name);
    if (key === undefined) throw invalid(`environment ${name}`, unknownEnvProblem(name, [...keyOf.keys(), ...RESERVED_ENV]), undefined, name);
    if (raw === undefined) continue;
    const other = setBy.get(key);
    if (other !== undefined) throw invalid(`environment ${other} and ${name}`, 'both set, keep one', key);
    setBy.set(key, name);
    // Whole decimal digits only ("8e3", "80a" and "" stay strings, so the schema rejects them).
    const value = envValue(raw, defaultOf.get(key), key);
    setPath(merged, key, value);
    origins.set(key, { source: `environment ${name}`, baseDir: cwd });
  }
}

/** Converts an environment string to the type of the leaf's default; anything odd stays a string. */
function envValue(raw: string, fallback: unknown, key: string): unknown {
  // Credentials are text even when all digits (a numeric password keeps its leading zeros).
  const text = /(password|username)$/i.test(key);
  const numeric = !text && (typeof fallback === 'number' || fallback === null);
  if (numeric && /^\d+$/.test(raw)) return Number(raw);
  if (fallback === null && raw === 'null') return null;
  if (typeof fallback === 'boolean' && (raw === 'true' || raw === 'false')) return raw === 'true';
  // Lists: comma-separated ("10.0.0.1, 10.0.0.2"); empty means none.
  if (Array.isArray(fallback)) return raw.trim() === '' ? [] : raw.split(',').map((item) => item.trim());
  return raw;
}

function issueError(issue: ZodError['issues'][number], merged: JsonObject, origins: Origins): CallpayError {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const name = issue.keys[0] ?? '';
    const key = [...path, name].join('.');
    const siblings = valueAt(readDefaults(), path);
    const near = isPlainObject(siblings) ? closest(name, Object.keys(siblings)) : undefined;
    return invalid(originOf(key, origins).source, near === undefined ? 'unknown key' : `unknown key; did you mean "${near}"?`, key);
  }
  const key = path.join('.');
  const got = valueAt(merged, path);
  const shown = got === undefined ? 'nothing' : truncate(JSON.stringify(got), 80);
  return invalid(originOf(key, origins).source, `expected ${issue.message}, got ${shown}`, key);
}

/** The layer that set `key` or, for a missing key, its nearest parent. */
function originOf(key: string, origins: Origins): Origin {
  for (let path = key; path !== ''; path = path.slice(0, Math.max(0, path.lastIndexOf('.')))) {
    const origin = origins.get(path);
    if (origin) return origin;
  }
  return { source: DEFAULTS_SOURCE, baseDir: '.' }; // only for keys no layer mentions: an error follows
}

/**
 * What to say about an unknown CALLPAY_ name: the setting it most likely misspells, else the names of
 * the section it resembles (CALLPAY_WEBHOOK_SECRET → the CALLPAY_WEBHOOKS_ names), else the sections.
 */
function unknownEnvProblem(name: string, known: string[]): string {
  const reserved = "CALLPAY_ names are callpay's settings only; give other programs' variables another prefix";
  const near = closest(name, known);
  if (near !== undefined) return `unknown key; did you mean ${near}? (${reserved})`;
  const sectionOf = (env: string) => env.slice('CALLPAY_'.length).split('_')[0] ?? '';
  const wanted = sectionOf(name);
  const sections = [...new Set(known.map(sectionOf))];
  const section = wanted.length >= 2 ? sections.find((s) => s.startsWith(wanted) || wanted.startsWith(s) || distance(s, wanted) <= 1) : undefined;
  const listed = section === undefined
    ? `settings are named CALLPAY_ + the key's path, in sections ${sections.map((s) => `CALLPAY_${s}…`).join(', ')}`
    : `the CALLPAY_${section}_ settings are ${known.filter((k) => sectionOf(k) === section).sort().join(', ')}`;
  return `unknown key; ${listed} (${reserved})`;
}

/** The candidate nearest to `name`, if it is near enough to be a typo of it. */
function closest(name: string, candidates: string[]): string | undefined {
  const budget = Math.max(2, Math.floor(name.replace(/^CALLPAY_/, '').length / 8));
  let best: { candidate: string; d: number } | undefined;
  for (const candidate of candidates) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d <= budget && (!best || d < best.d)) best = { candidate, d };
  }
  return best?.candidate;
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

function invalid(source: string, problem: string, key?: string, field = key): CallpayError {
  const message = `${source}: ${key === undefined ? '' : `${key}: `}${problem}`;
  return new CallpayError('config_invalid', message.replace(/\s*[\r\n]+\s*/g, ' '), field);
}

function leaves(obj: JsonObject, prefix: string): Array<[string, unknown]> {
  return Object.entries(obj).flatMap(([key, value]): Array<[string, unknown]> => {
    const path = prefix ? `${prefix}.${key}` : key;
    return isPlainObject(value) ? leaves(value, path) : [[path, value]];
  });
}

function setPath(obj: JsonObject, key: string, value: unknown): void {
  const parts = key.split('.');
  const last = parts.pop()!;
  let node = obj;
  for (const part of parts) {
    if (!isPlainObject(node[part])) setOwn(node, part, {});
    node = node[part] as JsonObject;
  }
  setOwn(node, last, value);
}

function valueAt(obj: unknown, path: string[]): unknown {
  return path.reduce<unknown>((node, part) => (isPlainObject(node) && Object.hasOwn(node, part) ? node[part] : undefined), obj);
}

/** Defines rather than assigns, so "__proto__" becomes an ordinary (and then rejected) key. */
function setOwn(obj: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
