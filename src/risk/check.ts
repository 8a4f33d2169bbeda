import type { Logger } from '../log.js';
import type { PreDialCheck, PreDialSubject, PreDialVerdict } from '../payments/ports.js';
import type { RiskHookClient } from './hook-client.js';
import { judge, type RiskRules } from './rules.js';

/** `callpay_risk_checks_total{result}`: an action the check led to, or why the hook gave none. */
export type RiskCheckResult = 'allow' | 'require_password' | 'refuse' | 'timeout' | 'unreachable' | 'http_error' | 'malformed';

export interface RiskCheckDeps {
  hook: RiskHookClient;
  rules: RiskRules;
  /** What a hook that gives no usable answer means: allow = fail open, refuse = fail closed. */
  onFailure: 'allow' | 'refuse';
  count?: (result: RiskCheckResult) => void;
}

/**
 * The pre-dial risk check: asks the carrier's hook about the number, then applies the configured
 * rules. Never throws for the hook's failures: they are a verdict per `onFailure`.
 */
export function createRiskCheck(d: RiskCheckDeps): PreDialCheck {
  return {
    async check(subject: PreDialSubject, log: Logger, signal: AbortSignal): Promise<PreDialVerdict> {
      const started = Date.now();
      const result = await d.hook(
        { phone: subject.phone, paymentId: subject.paymentId, merchantId: subject.merchantId, amount: subject.amount, currency: subject.currency, live: subject.live },
        signal,
      );
      const ms = Date.now() - started;
      // The payment ended meanwhile (expired, daemon stopping): nothing to count, the call is not placed.
      if (signal.aborted) return { action: 'refuse', failed: true, reason: 'pre-dial risk check abandoned: the call step ended' };
      if (result.kind === 'failure') {
        d.count?.(result.failure);
        const action = d.onFailure;
        // Logged by kind and status only: never the number, never the hook's body.
        log.warn({ risk: result.failure, httpStatus: result.httpStatus, detail: result.detail, ms, onFailure: action }, 'pre-dial risk check failed');
        return { action, failed: true, reason: `pre-dial risk check failed (${result.failure}: ${result.detail}); risk.hook.onFailure is ${action}` };
      }
      const verdict = judge(result.answer, d.rules);
      d.count?.(verdict.action);
      log.info({ risk: verdict.action, signals: verdict.signals, ms }, 'pre-dial risk check answered');
      const why = verdict.signals.length > 0 ? ` (${verdict.signals.join(', ')})` : '';
      return { action: verdict.action, failed: false, reason: `pre-dial risk check: ${verdict.action}${why}` };
    },
  };
}
