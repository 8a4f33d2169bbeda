import { Counter, type Registry } from 'prom-client';
import { readSecretsFile } from '../notify/secrets-file.js';
import type { Clock } from '../domain/clock.js';
import type { Config } from '../config/schema.js';
import type { PreDialCheck } from '../payments/ports.js';
import { createRiskHookClient } from './hook-client.js';
import { createRiskCheck, type RiskCheckResult } from './check.js';

const KEY = 'risk.hook.secretFile';

/** The signing secrets (notify/secrets-file.ts); errors name `risk.hook.secretFile`. */
export function readRiskSecrets(file: string): string[] {
  return readSecretsFile(file, KEY);
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
