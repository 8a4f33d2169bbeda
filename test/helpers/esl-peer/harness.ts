import type { FreeswitchEngine, FreeswitchEngineOptions } from '../../../src/telephony/freeswitch/engine.js';
import { createFreeswitchEngine } from '../../../src/telephony/freeswitch/engine.js';
import { log, type ContractHarness, type PhonePlan } from '../engine-contract.js';
import { tempDir } from '../cli.js';
import { startEslPeer, type EslPeer, type NumberPlan } from './peer.js';

export const CLIP_MS = 300;
export const NUMBER = '+886900000001';

export function engineOptions(port: number, over: Partial<FreeswitchEngineOptions> = {}): FreeswitchEngineOptions {
  return {
    host: '127.0.0.1', port, password: 'ClueCon', dialString: 'sofia/gateway/carrier/{e164}', callerIdNumber: 'callpay',
    ignoreEarlyMedia: true, ringTimeoutMs: 45_000, promptPath: (p) => p, inbandDtmf: false, parkTimeoutSeconds: 300,
    reconnect: { initialMs: 50, maxMs: 400 }, connectTimeoutMs: 2000, log, ...over,
  };
}

export function planFor(plan: PhonePlan): NumberPlan {
  switch (plan.kind) {
    case 'busy':
      return { outcome: 'busy' };
    case 'no_answer':
      return { outcome: 'no_answer' };
    default: {
      const p: NumberPlan = { outcome: 'answer', clipMs: CLIP_MS };
      if (plan.keys) {
        const during = plan.keys.when === 'during_announcement';
        p.keys = [{ after: during ? 'playback_start1' : 'playback_end1', ms: during ? 100 : 150, digits: plan.keys.digits, gapMs: plan.keys.gapMs ?? 60 }];
      }
      if (plan.hangup) Object.assign(p, { hangupAfter: 'playback_start1', hangupMs: 150 });
      return p;
    }
  }
}

export function peerHarness(): ContractHarness {
  const dir = tempDir();
  let peer: EslPeer | undefined;
  let engine: FreeswitchEngine | undefined;
  return {
    noAnswerRingTimeoutMs: 1000,
    async phone(plan) {
      peer = await startEslPeer({ dir: dir.path, scenario: { numbers: { [NUMBER.slice(1)]: planFor(plan) } } });
      engine = await createFreeswitchEngine(engineOptions(peer.port));
      return { engine, number: NUMBER };
    },
    async cleanup() {
      await engine?.close();
      await peer?.stop();
      dir.remove();
    },
  };
}

