import { stricter, type RiskAction, type RiskCheckResponse } from './contract.js';

/** What the operator configured (`risk.rules`): the action for each signal the hook reports. */
export interface RiskRules {
  /** A SIM change this many hours ago or less counts as a recent SIM swap. */
  simSwapWithinHours: number;
  simSwap: RiskAction;
  ported: RiskAction;
  /** Unconditional call forwarding: the call would ring another phone. */
  forwarded: RiskAction;
}

export type RiskSignal = 'sim_swap' | 'ported' | 'forwarded' | 'hook_decision';

export interface RiskVerdict {
  action: RiskAction;
  /** The signals that raised the action above allow (none when it is allow). */
  signals: RiskSignal[];
}

/**
 * The action for one answer: the strictest of every rule that matches and of the hook's own
 * decision. Pure; an unknown signal (null) matches no rule.
 */
export function judge(answer: RiskCheckResponse, rules: RiskRules): RiskVerdict {
  const raised: Array<[RiskSignal, RiskAction]> = [];
  const swap = answer.sim_swapped_within_hours;
  if (swap !== null && swap <= rules.simSwapWithinHours) raised.push(['sim_swap', rules.simSwap]);
  if (answer.ported === true) raised.push(['ported', rules.ported]);
  if (answer.forwarded === 'unconditional') raised.push(['forwarded', rules.forwarded]);
  if (answer.decision !== undefined) raised.push(['hook_decision', answer.decision]);
  const action = raised.reduce<RiskAction>((acc, [, a]) => stricter(acc, a), 'allow');
  return { action, signals: raised.filter(([, a]) => a !== 'allow').map(([s]) => s) };
}
