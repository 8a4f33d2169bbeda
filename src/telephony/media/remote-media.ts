import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { MediaError } from './errors.js';
import type { Codec } from './g711.js';
import type { ToWorker } from './protocol.js';

/** What the SIP side negotiated (from the peer's SDP answer). */
export interface RemoteMedia {
  /** The peer's c= address (an IP; a host name is resolved once). */
  host: string;
  /** The peer's m=audio port. */
  port: number;
  codec: Codec;
  /** The payload type of `codec` in the answer (0 for PCMU, 8 for PCMA as a rule). */
  payloadType: number;
  /** telephone-event's payload type, or null if the peer did not accept it (SIP INFO only). */
  telephoneEventPt: number | null;
  /**
   * Whether to send RTP; default true. False while the peer holds the call (RFC 3264 §8.4): prompts
   * still run on the clock, unheard, and digits are still received.
   */
  send?: boolean;
  /** Whether the phone is supposed to send RTP; default true. False (recvonly, inactive) suspends the inactivity timeout, as does `send: false` (held). */
  receive?: boolean;
  /** Both sides said a=rtcp-mux (RFC 5761): RTCP shares the RTP port. Default false. */
  rtcpMux?: boolean;
  /** The phone's a=rtcp (RFC 3605); default its RTP port + 1 on its RTP host. */
  rtcp?: { host: string; port: number } | null;
}

/** The worker's `start` message for `remote` (all but sid and the engine's settings): checked, host names resolved once. */
export async function workerStart(remote: RemoteMedia): Promise<Omit<Extract<ToWorker, { op: 'start' }>, 'op' | 'sid' | 'inbandDtmf'>> {
  const pt = (n: number | null) => n === null || (Number.isInteger(n) && n >= 0 && n <= 127);
  if (!pt(remote.payloadType) || !pt(remote.telephoneEventPt) || remote.telephoneEventPt === remote.payloadType) {
    throw new MediaError('invalid_state', 'payload types must be distinct integers 0..127');
  }
  const isPort = (p: number) => Number.isInteger(p) && p >= 1 && p <= 65535;
  if (!isPort(remote.port)) throw new MediaError('invalid_state', `remote RTP port ${remote.port} is not a port`);
  if (remote.rtcp && !isPort(remote.rtcp.port)) throw new MediaError('invalid_state', `remote RTCP port ${remote.rtcp.port} is not a port`);
  const resolve = async (host: string) => (isIP(host) ? host : (await lookup(host)).address);
  return {
    remote: { address: await resolve(remote.host), port: remote.port },
    rtcpMux: remote.rtcpMux ?? false,
    rtcp: remote.rtcp ? { address: await resolve(remote.rtcp.host), port: remote.rtcp.port } : null,
    codec: remote.codec,
    payloadType: remote.payloadType,
    telephoneEventPt: remote.telephoneEventPt,
    send: remote.send ?? true,
    receive: remote.receive ?? true,
  };
}
