import { readFileSync } from 'node:fs';
import { Counter, type Registry } from 'prom-client';
import { CallpayError } from '../domain/errors.js';
import type { Clock } from '../domain/clock.js';
import type { Config } from '../config/schema.js';
import type { PreDialCheck } from '../payments/ports.js';
import { createRiskHookClient } from './hook-client.js';
import { createRiskCheck, type RiskCheckResult } from './check.js';

const KEY = 'risk.hook.secretFile';

/** The signing secrets: one a line, newest first. A missing, empty or weak file stops start-up, naming the key. */
export function readRiskSecrets(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CallpayError('config_invalid', `${KEY}: cannot read the file (${(e as NodeJS.ErrnoException).code})`, KEY);
  }
  const secrets = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (secrets.length === 0) throw new CallpayError('config_invalid', `${KEY}: the file has no secret`, KEY);
  if (secrets.length > 4) throw new CallpayError('config_invalid', `${KEY}: at most 4 secrets (one a line), got ${secrets.length}`, KEY);
  if (secrets.some((s) => s.length < 32)) throw new CallpayError('config_invalid', `${KEY}: every secret needs at least 32 characters`, KEY);
  return secrets;
}

/** `callpay_risk_checks_total{result}` on the daemon's registry. */
export function riskCheckCounter(registry: Registry): (result: RiskCheckResult) => void {
  const counter = new Counter({ name: 'callpay_risk_checks_total', help: 'Pre-dial risk checks, by result: the action taken on an answer, or why there was none (timeout, unreachable, http_error, malformed)', labelNames: ['result'], registers: [registry] });
  return (result) => counter.inc({ result });
}

/** The configured pre-dial check, or undefined when `risk.hook.url` is null. */
export function riskCheckFromConfig(config: Config['risk'], deps: { clock: Clock; registry?: Registry }): PreDialCheck | undefined {
  const { hook, rules } = config;
  if (hook.url === null || hook.secretFile === null) return undefined;
  const client = createRiskHookClient({ url: hook.url, secrets: readRiskSecrets(hook.secretFile), timeoutMs: hook.timeoutMs, clock: deps.clock });
  return createRiskCheck({ hook: client, rules, onFailure: hook.onFailure, ...(deps.registry ? { count: riskCheckCounter(deps.registry) } : {}) });
}
