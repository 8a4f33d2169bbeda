import { join } from 'node:path';
import { createEmbeddedEngine } from '../src/telephony/embedded.js';
import type { CallEngine } from '../src/telephony/engine.js';
import { engineContract, log, type ContractHarness, type PhonePlan } from './helpers/engine-contract.js';
import { peerHarness } from './helpers/esl-peer/harness.js';
import { startSipp, type Sipp } from './helpers/sipp.js';
import { writeDtmfPcap } from './helpers/pcap.js';
import { tempDir } from './helpers/cli.js';
import { freeRtpPortRange } from './helpers/rtp-phone.js';

/** The announcement the contract plays lasts about 3.8 s: keys at 0.8 s fall inside it, at 5 s after it. */
const LEAD_MS = { during_announcement: 800, after_announcement: 5000 } as const;

/** The embedded engine against sipp playing the phone (RFC 4733 digits from a generated pcap). */
function sippHarness(): ContractHarness {
  const dir = tempDir();
  let sipp: Sipp | undefined;
  let engine: CallEngine | undefined;
  return {
    noAnswerRingTimeoutMs: 1500,
    async phone(plan: PhonePlan) {
      const pcap = join(dir.path, 'dtmf.pcap');
      let scenario = 'answer-dtmf';
      let vars: Record<string, string> = {};
      if (plan.kind === 'busy') scenario = 'busy';
      else if (plan.kind === 'no_answer') scenario = 'ring-forever';
      else if (plan.hangup) {
        scenario = 'hangup-during-playback';
        vars = { hangup_after_ms: '800' };
      } else if (plan.keys) {
        writeDtmfPcap(pcap, { digits: plan.keys.digits, leadMs: LEAD_MS[plan.keys.when], silencePayloadType: 0 });
      } else {
        // Nothing keyed while the test runs: one key far in the future.
        writeDtmfPcap(pcap, { digits: '1', leadMs: 20_000, silencePayloadType: 0 });
      }
      sipp = await startSipp({ scenario, timeoutMs: 30_000, vars, ...(scenario === 'answer-dtmf' ? { pcap } : {}) });
      const rtp = await freeRtpPortRange(8);
      engine = await createEmbeddedEngine({
        sip: {
          bindHost: '127.0.0.1', bindPort: 0, outboundProxy: null, requestUri: `sip:{number}@127.0.0.1:${sipp.port}`,
          from: 'sip:callpay@127.0.0.1', displayName: 'callpay', username: null, password: null, ringTimeoutMs: 45_000,
        },
        rtp: { bindHost: '127.0.0.1', ...rtp },
        log,
        timers: { t1: 100 },
      });
      return { engine, number: '+886912345678' };
    },
    async cleanup() {
      await engine?.close();
      await sipp?.stop();
      dir.remove();
    },
  };
}

engineContract('embedded (sipp plays the phone)', sippHarness);
engineContract('freeswitch (event-socket peer over TCP)', peerHarness);
