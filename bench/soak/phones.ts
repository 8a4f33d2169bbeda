// The consumers' phones: one sipp (sip/soak-phones.xml) answers every call of one daemon lifetime;
// the number called picks what the phone does. The PINs are RFC 4733 pcaps made once per soak.
import { join } from 'node:path';
import { writeDtmfPcap } from '../../test/helpers/pcap.js';
import { startSipp, type Sipp } from '../../test/helpers/sipp.js';
import { trackSipp } from './children.js';
import { PIN, WRONG_PINS } from './cast.js';

export interface PhonePcaps {
  ok: string;
  wrong: string;
}

/** A lead-in of silence, as a phone sends while the announcement starts, then the keys. */
export function writePinPcaps(dir: string): PhonePcaps {
  const ok = join(dir, 'pin-ok.pcap');
  const wrong = join(dir, 'pin-wrong.pcap');
  writeDtmfPcap(ok, { digits: `${PIN}#`, leadMs: 1500, silencePayloadType: 0, gapMs: 150 });
  writeDtmfPcap(wrong, { digits: WRONG_PINS, leadMs: 1500, silencePayloadType: 0, gapMs: 150 });
  return { ok, wrong };
}

/** Bounded by sipp's own -timeout; a phone serves one daemon lifetime and is stopped by PID after it. */
export async function startPhones(pcaps: PhonePcaps, lifetimeMs: number): Promise<Sipp> {
  const sipp = await startSipp({
    scenario: 'soak-phones',
    vars: { pcap_ok: pcaps.ok, pcap_wrong: pcaps.wrong },
    calls: 100_000,
    timeoutMs: lifetimeMs,
    args: ['-l', '10000'],
  });
  trackSipp(sipp);
  return sipp;
}
